//! The link-time catalogue: every `metric!` in the program is in the global registry and
//! in its first scrape, zero-valued, before any use; the global exposition also carries the
//! `prometheus` crate's default registry (with process metrics on Linux).

use obs_runtime::{Label, Registry, metric, metrics::Format};
use obs_tests::{promtool_check, python_parse, samples};

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

#[test]
fn first_scrape_lists_every_declared_series_at_zero() {
    let registry = Registry::global();
    registry
        .check()
        .expect("no duplicate names in this program");
    let names = registry.names();
    for name in [
        "catalogue_signups_total",
        "catalogue_checkout_seconds",
        "catalogue_nested_level",
        "obs_cardinality_overflow_total",
    ] {
        assert!(
            names.iter().any(|n| n == name),
            "{name} missing from {names:?}"
        );
    }
    let text = registry.encode(Format::Prometheus);
    for plan in ["free", "pro"] {
        for referred in ["false", "true"] {
            let line =
                format!("catalogue_signups_total{{plan=\"{plan}\",referred=\"{referred}\"}} 0\n");
            assert!(text.contains(&line), "missing {line}");
        }
    }
    assert!(text.contains("catalogue_checkout_seconds_bucket{le=\"+Inf\"} 0\n"));
    assert!(text.contains("catalogue_nested_level 0\n"));
    // Families come out sorted by name, whatever the link order.
    let signups = text
        .find("# TYPE catalogue_signups_total")
        .expect("signups");
    let checkout = text
        .find("# TYPE catalogue_checkout_seconds")
        .expect("checkout");
    assert!(checkout < signups);
    let _ = (&SIGNUPS, &CHECKOUT, &nested::NESTED);
}

#[test]
fn global_exposition_includes_prometheus_default_registry() {
    let legacy = prometheus::IntCounter::new("legacy_jobs_total", "Jobs counted by prometheus.")
        .expect("valid");
    prometheus::register(Box::new(legacy.clone())).expect("registered once");
    legacy.inc_by(7);

    let text = Registry::global().encode(Format::Prometheus);
    assert!(
        text.contains("# TYPE legacy_jobs_total counter\nlegacy_jobs_total 7.0\n"),
        "{text}"
    );
    #[cfg(target_os = "linux")]
    {
        assert!(text.contains("# TYPE process_resident_memory_bytes gauge\n"));
        assert!(text.contains("process_open_fds "));
    }
    promtool_check(&text);
    let om = Registry::global().encode(Format::OpenMetrics);
    let parsed = samples(&python_parse("openmetrics", &om));
    let legacy = parsed
        .iter()
        .find(|s| s.name == "legacy_jobs_total")
        .expect("legacy sample");
    assert_eq!(legacy.value, 7.0);
    let from_text = samples(&python_parse("prometheus", &text));
    assert!(
        from_text
            .iter()
            .any(|s| s.name == "catalogue_signups_total")
    );
}
