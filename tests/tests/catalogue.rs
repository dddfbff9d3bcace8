//! The link-time catalogue: every `metric!` in the program is in the global registry and
//! in its first scrape, zero-valued, before any use; the global exposition also carries the
//! `prometheus` crate's default registry (with process metrics on Linux).

use obs_runtime::{Label, Registry, metric, metrics::Format};
use std::collections::BTreeMap;

use obs_tests::lines_of;
use obs_tests::{Sample, promtool_check, python_parse, samples};

/// Plan of a customer.
#[derive(Clone, Copy, Debug, Label)]
pub enum Plan {
    /// Free.
    Free,
    /// Paid.
    Pro,
}

metric! {
    /// Signups by plan; never touched by this test.
    pub counter SIGNUPS("catalogue_signups_total", plan: Plan, referred: bool);
    /// Checkout latency; never touched by this test.
    pub histogram CHECKOUT("catalogue_checkout_seconds", buckets = [0.5, 1.0], unit = "seconds");
}

mod nested {
    obs_runtime::metric! {
        /// Declared in another module.
        pub(crate) gauge NESTED("catalogue_nested_level");
    }
}

/// The whole text exposition of this file's families, untouched: every series at zero.
const CATALOGUE: &str = "\
# HELP catalogue_checkout_seconds Checkout latency; never touched by this test.
# TYPE catalogue_checkout_seconds histogram
catalogue_checkout_seconds_bucket{le=\"0.5\"} 0
catalogue_checkout_seconds_bucket{le=\"1.0\"} 0
catalogue_checkout_seconds_bucket{le=\"+Inf\"} 0
catalogue_checkout_seconds_sum 0.0
catalogue_checkout_seconds_count 0
# HELP catalogue_nested_level Declared in another module.
# TYPE catalogue_nested_level gauge
catalogue_nested_level 0
# HELP catalogue_signups_total Signups by plan; never touched by this test.
# TYPE catalogue_signups_total counter
catalogue_signups_total{plan=\"free\",referred=\"false\"} 0
catalogue_signups_total{plan=\"free\",referred=\"true\"} 0
catalogue_signups_total{plan=\"pro\",referred=\"false\"} 0
catalogue_signups_total{plan=\"pro\",referred=\"true\"} 0
";

#[test]
fn first_scrape_lists_every_declared_series_at_zero() {
    let registry = Registry::global();
    registry
        .check()
        .expect("no duplicate names in this program");
    let names = registry.names();
    // This file's families, exactly and sorted by name, whatever the link order. The rest
    // of the list is obs-runtime's own families: one of them is checked by name only, so
    // that a new self-metric of the runtime does not break this test.
    let ours: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| n.starts_with("catalogue_"))
        .collect();
    assert_eq!(
        ours,
        [
            "catalogue_checkout_seconds",
            "catalogue_nested_level",
            "catalogue_signups_total",
        ]
    );
    assert_eq!(
        names
            .iter()
            .filter(|n| *n == "obs_cardinality_overflow_total")
            .count(),
        1,
        "{names:?}"
    );
    let text = registry.encode(Format::Prometheus);
    // Every series of this file's families, at zero, and nothing else of theirs; the
    // families sorted by name and in one run (the block is contiguous in the exposition).
    assert_eq!(lines_of(&text, "catalogue_").join("\n") + "\n", CATALOGUE);
    assert!(text.contains(CATALOGUE), "{text}");
    let _ = (&SIGNUPS, &CHECKOUT, &nested::NESTED);
}

#[test]
fn global_exposition_includes_prometheus_default_registry() {
    let legacy = prometheus::IntCounter::new("legacy_jobs_total", "Jobs counted by prometheus.")
        .expect("valid");
    prometheus::register(Box::new(legacy.clone())).expect("registered once");
    legacy.inc_by(7);

    let text = Registry::global().encode(Format::Prometheus);
    assert_eq!(
        lines_of(&text, "legacy_"),
        [
            "# HELP legacy_jobs_total Jobs counted by prometheus.",
            "# TYPE legacy_jobs_total counter",
            "legacy_jobs_total 7.0",
        ],
        "{text}"
    );
    #[cfg(target_os = "linux")]
    {
        // The `prometheus` crate's process collector: its families exactly; the values
        // (memory, descriptors, CPU time, limits) belong to the machine, so only their
        // form is checked.
        let process: Vec<&str> = lines_of(&text, "process_")
            .into_iter()
            .map(|line| {
                if line.starts_with('#') {
                    return line;
                }
                let (name, value) = line.split_once(' ').expect("a sample line");
                let value: f64 = value.parse().expect("a number");
                assert!(value.is_finite() && value >= 0.0, "{line}");
                name
            })
            .collect();
        assert_eq!(
            process,
            [
                "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.",
                "# TYPE process_cpu_seconds_total counter",
                "process_cpu_seconds_total",
                "# HELP process_max_fds Maximum number of open file descriptors.",
                "# TYPE process_max_fds gauge",
                "process_max_fds",
                "# HELP process_open_fds Number of open file descriptors.",
                "# TYPE process_open_fds gauge",
                "process_open_fds",
                "# HELP process_resident_memory_bytes Resident memory size in bytes.",
                "# TYPE process_resident_memory_bytes gauge",
                "process_resident_memory_bytes",
                "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.",
                "# TYPE process_start_time_seconds gauge",
                "process_start_time_seconds",
                "# HELP process_threads Number of OS threads in the process.",
                "# TYPE process_threads gauge",
                "process_threads",
                "# HELP process_virtual_memory_bytes Virtual memory size in bytes.",
                "# TYPE process_virtual_memory_bytes gauge",
                "process_virtual_memory_bytes",
            ],
            "{text}"
        );
    }
    promtool_check(&text);
    let om = Registry::global().encode(Format::OpenMetrics);
    let parsed = samples(&python_parse("openmetrics", &om));
    let legacy: Vec<&Sample> = parsed
        .iter()
        .filter(|s| s.name.starts_with("legacy_"))
        .collect();
    assert_eq!(
        legacy,
        [&Sample {
            name: "legacy_jobs_total".to_owned(),
            labels: BTreeMap::new(),
            value: 7.0,
            exemplar: None,
        }]
    );
    let from_text = samples(&python_parse("prometheus", &text));
    let signups: Vec<&Sample> = from_text
        .iter()
        .filter(|s| s.name.starts_with("catalogue_signups"))
        .collect();
    let zero = |plan: &str, referred: &str| Sample {
        name: "catalogue_signups_total".to_owned(),
        labels: BTreeMap::from([
            ("plan".to_owned(), plan.to_owned()),
            ("referred".to_owned(), referred.to_owned()),
        ]),
        value: 0.0,
        exemplar: None,
    };
    assert_eq!(
        signups,
        [
            &zero("free", "false"),
            &zero("free", "true"),
            &zero("pro", "false"),
            &zero("pro", "true"),
        ]
    );
}
