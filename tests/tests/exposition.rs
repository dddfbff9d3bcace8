//! Exposition checked three ways: golden text, the Python reference parsers, and
//! `promtool check metrics`.

use obs_runtime::{
    Counter, Gauge, Label, Registry, metric,
    metrics::{DynamicOptions, Format, HistogramOptions},
};
use obs_tests::{mask_created, promtool_check, python_parse, samples};

/// Queues of the golden test.
#[derive(Clone, Copy, Debug, Label)]
pub enum Queue {
    /// Mail.
    Mail,
    /// Reports.
    Reports,
}

metric! {
    /// Jobs run.
    pub counter G_JOBS("golden_jobs_total", queue: Queue);
    /// CPU time spent.
    pub float_counter G_CPU("golden_cpu_seconds_total", unit = "seconds");
    /// Jobs waiting.
    pub gauge G_WAITING("golden_waiting_jobs");
    /// Load.
    pub float_gauge G_LOAD("golden_load_ratio", unit = "ratio");
    /// Job latency.
    pub histogram G_LATENCY("golden_latency_seconds", queue: Queue, buckets = [0.1, 1.0], unit = "seconds");
    /// Payload size.
    pub summary G_PAYLOAD("golden_payload_bytes", quantiles = [0.5, 0.9], unit = "bytes");
    /// Build information.
    pub info G_BUILD("golden_build", version, commit);
}

fn golden_registry() -> Registry {
    let registry = Registry::new();
    for family in [
        &G_JOBS as &'static dyn obs_runtime::metrics::Collect,
        &G_CPU,
        &G_WAITING,
        &G_LOAD,
        &G_LATENCY,
        &G_PAYLOAD,
        &G_BUILD,
    ] {
        registry.register(family).expect("unique names");
    }
    G_JOBS.with(Queue::Mail).inc_by(3);
    G_CPU.inc_by(1.5);
    G_WAITING.set(-2);
    G_LOAD.set(0.25);
    for v in [0.05, 0.5, 5.0] {
        G_LATENCY.with(Queue::Reports).observe(v);
    }
    for v in [100.0, 200.0, 300.0, 400.0] {
        G_PAYLOAD.observe(v);
    }
    G_BUILD.set(["1.2.3", "4f2a9c1"]);
    registry
}

const GOLDEN_TEXT: &str = r#"# HELP golden_jobs_total Jobs run.
# TYPE golden_jobs_total counter
golden_jobs_total{queue="mail"} 3
golden_jobs_total{queue="reports"} 0
# HELP golden_cpu_seconds_total CPU time spent.
# TYPE golden_cpu_seconds_total counter
golden_cpu_seconds_total 1.5
# HELP golden_waiting_jobs Jobs waiting.
# TYPE golden_waiting_jobs gauge
golden_waiting_jobs -2
# HELP golden_load_ratio Load.
# TYPE golden_load_ratio gauge
golden_load_ratio 0.25
# HELP golden_latency_seconds Job latency.
# TYPE golden_latency_seconds histogram
golden_latency_seconds_bucket{queue="mail",le="0.1"} 0
golden_latency_seconds_bucket{queue="mail",le="1.0"} 0
golden_latency_seconds_bucket{queue="mail",le="+Inf"} 0
golden_latency_seconds_sum{queue="mail"} 0.0
golden_latency_seconds_count{queue="mail"} 0
golden_latency_seconds_bucket{queue="reports",le="0.1"} 1
golden_latency_seconds_bucket{queue="reports",le="1.0"} 2
golden_latency_seconds_bucket{queue="reports",le="+Inf"} 3
golden_latency_seconds_sum{queue="reports"} 5.55
golden_latency_seconds_count{queue="reports"} 3
# HELP golden_payload_bytes Payload size.
# TYPE golden_payload_bytes summary
golden_payload_bytes{quantile="0.5"} 198.36848598124263
golden_payload_bytes{quantile="0.9"} 399.4743972413596
golden_payload_bytes_sum 1000.0
golden_payload_bytes_count 4
# HELP golden_build_info Build information.
# TYPE golden_build_info gauge
golden_build_info{version="1.2.3",commit="4f2a9c1"} 1
"#;

const GOLDEN_OPENMETRICS: &str = r#"# TYPE golden_jobs counter
# HELP golden_jobs Jobs run.
golden_jobs_total{queue="mail"} 3
golden_jobs_created{queue="mail"} <created>
golden_jobs_total{queue="reports"} 0
golden_jobs_created{queue="reports"} <created>
# TYPE golden_cpu_seconds counter
# UNIT golden_cpu_seconds seconds
# HELP golden_cpu_seconds CPU time spent.
golden_cpu_seconds_total 1.5
golden_cpu_seconds_created <created>
# TYPE golden_waiting_jobs gauge
# HELP golden_waiting_jobs Jobs waiting.
golden_waiting_jobs -2
# TYPE golden_load_ratio gauge
# UNIT golden_load_ratio ratio
# HELP golden_load_ratio Load.
golden_load_ratio 0.25
# TYPE golden_latency_seconds histogram
# UNIT golden_latency_seconds seconds
# HELP golden_latency_seconds Job latency.
golden_latency_seconds_bucket{queue="mail",le="0.1"} 0
golden_latency_seconds_bucket{queue="mail",le="1.0"} 0
golden_latency_seconds_bucket{queue="mail",le="+Inf"} 0
golden_latency_seconds_count{queue="mail"} 0
golden_latency_seconds_sum{queue="mail"} 0.0
golden_latency_seconds_created{queue="mail"} <created>
golden_latency_seconds_bucket{queue="reports",le="0.1"} 1
golden_latency_seconds_bucket{queue="reports",le="1.0"} 2
golden_latency_seconds_bucket{queue="reports",le="+Inf"} 3
golden_latency_seconds_count{queue="reports"} 3
golden_latency_seconds_sum{queue="reports"} 5.55
golden_latency_seconds_created{queue="reports"} <created>
# TYPE golden_payload_bytes summary
# UNIT golden_payload_bytes bytes
# HELP golden_payload_bytes Payload size.
golden_payload_bytes{quantile="0.5"} 198.36848598124263
golden_payload_bytes{quantile="0.9"} 399.4743972413596
golden_payload_bytes_count 4
golden_payload_bytes_sum 1000.0
golden_payload_bytes_created <created>
# TYPE golden_build info
# HELP golden_build Build information.
golden_build_info{version="1.2.3",commit="4f2a9c1"} 1
# EOF
"#;

#[test]
fn every_kind_matches_golden_text() {
    let registry = golden_registry();
    let text = registry.encode(Format::Prometheus);
    assert_eq!(text, GOLDEN_TEXT);
    let om = registry.encode(Format::OpenMetrics);
    assert_eq!(mask_created(&om), GOLDEN_OPENMETRICS);

    promtool_check(&text);

    // Both reference parsers read the same values back (`_created` aside).
    let from_text = samples(&python_parse("prometheus", &text));
    let from_om = samples(&python_parse("openmetrics", &om));
    let sorted = |mut v: Vec<obs_tests::Sample>| {
        v.sort_by(|a, b| (&a.name, &a.labels).cmp(&(&b.name, &b.labels)));
        v
    };
    let (from_text, from_om) = (sorted(from_text), sorted(from_om));
    assert_eq!(from_text.len(), 20);
    assert_eq!(from_text, from_om);
    let value = |name: &str, labels: &[(&str, &str)]| {
        from_om
            .iter()
            .find(|s| {
                s.name == name
                    && s.labels.len() == labels.len()
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(v))
            })
            .unwrap_or_else(|| panic!("no sample {name} {labels:?}"))
            .value
    };
    assert_eq!(value("golden_jobs_total", &[("queue", "mail")]), 3.0);
    assert_eq!(
        value(
            "golden_latency_seconds_bucket",
            &[("queue", "reports"), ("le", "+Inf")]
        ),
        3.0
    );
    assert_eq!(
        value("golden_latency_seconds_count", &[("queue", "reports")]),
        3.0
    );
    assert_eq!(
        value("golden_latency_seconds_sum", &[("queue", "reports")]),
        5.55
    );
    assert_eq!(value("golden_waiting_jobs", &[]), -2.0);
    assert_eq!(value("golden_payload_bytes_count", &[]), 4.0);
    assert_eq!(
        value(
            "golden_build_info",
            &[("version", "1.2.3"), ("commit", "4f2a9c1")]
        ),
        1.0
    );

    let om_families = python_parse("openmetrics", &om);
    let latency = om_families
        .iter()
        .find(|f| f.name == "golden_latency_seconds")
        .expect("family");
    assert_eq!(
        (latency.kind.as_str(), latency.unit.as_str()),
        ("histogram", "seconds")
    );
    let build = om_families
        .iter()
        .find(|f| f.name == "golden_build")
        .expect("family");
    assert_eq!(build.kind, "info");
}

#[test]
fn escaping_of_help_and_label_values() {
    let registry = Registry::new();
    let family = registry
        .register_dynamic::<Counter, 1>(
            DynamicOptions::new(
                "escape_events_total",
                "Help with a backslash \\, a \"quote\" and a\nnewline.",
                ["path"],
            ),
            (),
        )
        .expect("valid");
    family.with(["C:\\temp \"quoted\"\nnext line"]).inc();
    family.with(["café ☕ 東京"]).inc_by(2);

    let text = registry.encode(Format::Prometheus);
    assert_eq!(
        text,
        concat!(
            "# HELP escape_events_total Help with a backslash \\\\, a \"quote\" and a\\nnewline.\n",
            "# TYPE escape_events_total counter\n",
            "escape_events_total{path=\"C:\\\\temp \\\"quoted\\\"\\nnext line\"} 1\n",
            "escape_events_total{path=\"café ☕ 東京\"} 2\n",
        )
    );
    let om = registry.encode(Format::OpenMetrics);
    assert_eq!(
        mask_created(&om),
        concat!(
            "# TYPE escape_events counter\n",
            "# HELP escape_events Help with a backslash \\\\, a \\\"quote\\\" and a\\nnewline.\n",
            "escape_events_total{path=\"C:\\\\temp \\\"quoted\\\"\\nnext line\"} 1\n",
            "escape_events_created{path=\"C:\\\\temp \\\"quoted\\\"\\nnext line\"} <created>\n",
            "escape_events_total{path=\"café ☕ 東京\"} 2\n",
            "escape_events_created{path=\"café ☕ 東京\"} <created>\n",
            "# EOF\n",
        )
    );
    promtool_check(&text);
    for (format, body) in [("prometheus", &text), ("openmetrics", &om)] {
        let families = python_parse(format, body);
        assert_eq!(
            families[0].help,
            "Help with a backslash \\, a \"quote\" and a\nnewline."
        );
        let got = samples(&families);
        assert_eq!(got.len(), 2, "{format}");
        assert_eq!(
            got[0].labels["path"], "C:\\temp \"quoted\"\nnext line",
            "{format}"
        );
        assert_eq!(got[0].value, 1.0);
        assert_eq!(got[1].labels["path"], "café ☕ 東京", "{format}");
        assert_eq!(got[1].value, 2.0);
    }
}

#[test]
fn empty_registry() {
    let registry = Registry::new();
    assert_eq!(registry.encode(Format::Prometheus), "");
    assert_eq!(registry.encode(Format::OpenMetrics), "# EOF\n");
    assert!(python_parse("openmetrics", "# EOF\n").is_empty());
    assert!(python_parse("prometheus", "").is_empty());
}

/// A sample as `(name, labels, value)`.
type Expected = (String, Vec<(String, String)>, f64);

/// Randomized registry: random families, label values and updates; the Python parsers must
/// read back exactly the values the test applied.
#[test]
fn randomized_registry_round_trips_through_reference_parsers() {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos() as u64;
    let mut rng = obs_tests::Rng::new(seed);
    let registry = Registry::new();
    let mut expected: Vec<Expected> = Vec::new();
    let alphabet: Vec<char> = "abc xyz_-\"\\\né☕".chars().collect();
    for f in 0..(3 + rng.below(5)) {
        let name = format!("random_{f}_events_total");
        let counter = registry
            .register_dynamic::<Counter, 2>(
                DynamicOptions::new(&name, "Random counter.", ["kind", "shard"]),
                (),
            )
            .expect("valid");
        let mut applied = std::collections::BTreeMap::new();
        for _ in 0..rng.below(20) {
            let kind: String = (0..=rng.below(6))
                .map(|_| alphabet[rng.below(alphabet.len() as u64) as usize])
                .collect();
            let shard = rng.below(4).to_string();
            let n = rng.below(1_000_000);
            counter.with([&kind, &shard]).inc_by(n);
            *applied.entry((kind, shard)).or_insert(0u64) += n;
        }
        for ((kind, shard), n) in applied {
            expected.push((
                name.clone(),
                vec![("kind".into(), kind), ("shard".into(), shard)],
                n as f64,
            ));
        }
        let gauge_name = format!("random_{f}_level");
        let gauge = registry
            .register_dynamic::<Gauge, 0>(DynamicOptions::new(&gauge_name, "Random gauge.", []), ())
            .expect("valid");
        let v = rng.next_u64() as i64 >> 20;
        gauge.with([]).set(v);
        expected.push((gauge_name, vec![], v as f64));
        let hist_name = format!("random_{f}_size_bytes");
        let hist = registry
            .register_dynamic::<obs_runtime::Histogram, 0>(
                DynamicOptions::new(&hist_name, "Random histogram.", []),
                HistogramOptions {
                    buckets: &[1.0, 10.0, 100.0],
                },
            )
            .expect("valid");
        let cell = hist.with([]);
        let mut counts = [0u64; 4];
        let mut sum = 0.0;
        for _ in 0..rng.below(50) {
            let v = (rng.below(20_000) as f64) / 100.0;
            cell.observe(v);
            sum += v;
            counts[[1.0, 10.0, 100.0].iter().position(|b| v <= *b).unwrap_or(3)] += 1;
        }
        let mut acc = 0;
        for (i, le) in ["1.0", "10.0", "100.0", "+Inf"].iter().enumerate() {
            acc += counts[i];
            expected.push((
                format!("{hist_name}_bucket"),
                vec![("le".into(), (*le).into())],
                acc as f64,
            ));
        }
        expected.push((format!("{hist_name}_count"), vec![], acc as f64));
        expected.push((format!("{hist_name}_sum"), vec![], cell.sum()));
        assert!((cell.sum() - sum).abs() < 1e-6, "seed {seed}");
    }
    let text = registry.encode(Format::Prometheus);
    promtool_check(&text);
    let om = registry.encode(Format::OpenMetrics);
    for (format, body) in [("prometheus", &text), ("openmetrics", &om)] {
        let mut got: Vec<Expected> = samples(&python_parse(format, body))
            .into_iter()
            .map(|s| (s.name, s.labels.into_iter().collect(), s.value))
            .collect();
        got.sort_by(|a, b| (&a.0, &a.1).partial_cmp(&(&b.0, &b.1)).expect("ordered"));
        let mut want = expected.clone();
        for (_, labels, _) in &mut want {
            labels.sort();
        }
        want.sort_by(|a, b| (&a.0, &a.1).partial_cmp(&(&b.0, &b.1)).expect("ordered"));
        assert_eq!(got, want, "seed {seed}, format {format}");
    }
}

/// Exemplar syntax: OpenMetrics carries `# {trace_id="..",span_id=".."} value timestamp`
/// after a bucket or counter sample, and the reference parser reads it back; the Prometheus
/// text format has no place for it and leaves it out.
#[test]
fn exemplars_render_in_openmetrics_only() {
    use obs_runtime::metrics::Exemplar;
    use obs_runtime::metrics::encoding::openmetrics::OpenMetricsEncoder;
    use obs_runtime::metrics::encoding::text::TextEncoder;
    use obs_runtime::metrics::encoding::{FamilyHeader, HistogramSample, MetricEncoder, Number};

    let exemplar = Exemplar {
        trace_id: [
            0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e,
            0x47, 0x36,
        ],
        span_id: [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7],
        value: 0.67,
        timestamp: Some(1_700_000_000.5),
    };
    let encode = |encoder: &mut dyn MetricEncoder| {
        encoder.family(&FamilyHeader {
            name: "ex_requests_total",
            help: "Requests.",
            unit: None,
            kind: obs_runtime::metrics::MetricKind::Counter,
        });
        encoder.counter(&[("route", "/a")], Number::Int(2), None, Some(&exemplar));
        encoder.family(&FamilyHeader {
            name: "ex_latency_seconds",
            help: "Latency.",
            unit: Some("seconds"),
            kind: obs_runtime::metrics::MetricKind::Histogram,
        });
        encoder.histogram(
            &[],
            &HistogramSample {
                bounds: &[0.5, 1.0],
                cumulative: &[1, 2, 2],
                exemplars: &[None, Some(exemplar), None],
                sum: 0.9,
                count: 2,
                created: None,
            },
        );
    };
    let mut om = String::new();
    let mut encoder = OpenMetricsEncoder::new(&mut om);
    encode(&mut encoder);
    encoder.finish();
    assert_eq!(
        om,
        concat!(
            "# TYPE ex_requests counter\n",
            "# HELP ex_requests Requests.\n",
            "ex_requests_total{route=\"/a\"} 2 # {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\",span_id=\"00f067aa0ba902b7\"} 0.67 1700000000.5\n",
            "# TYPE ex_latency_seconds histogram\n",
            "# UNIT ex_latency_seconds seconds\n",
            "# HELP ex_latency_seconds Latency.\n",
            "ex_latency_seconds_bucket{le=\"0.5\"} 1\n",
            "ex_latency_seconds_bucket{le=\"1.0\"} 2 # {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\",span_id=\"00f067aa0ba902b7\"} 0.67 1700000000.5\n",
            "ex_latency_seconds_bucket{le=\"+Inf\"} 2\n",
            "ex_latency_seconds_count 2\n",
            "ex_latency_seconds_sum 0.9\n",
            "# EOF\n",
        )
    );
    let parsed = samples(&python_parse("openmetrics", &om));
    let with_exemplar: Vec<_> = parsed.iter().filter(|s| s.exemplar.is_some()).collect();
    assert_eq!(with_exemplar.len(), 2);
    for s in with_exemplar {
        assert_eq!(
            s.exemplar,
            Some((
                "4bf92f3577b34da6a3ce929d0e0e4736".to_owned(),
                "00f067aa0ba902b7".to_owned(),
                0.67
            ))
        );
    }

    let mut text = String::new();
    encode(&mut TextEncoder::new(&mut text));
    assert!(!text.contains("trace_id"), "{text}");
    assert!(
        text.contains("ex_latency_seconds_bucket{le=\"1.0\"} 2\n"),
        "{text}"
    );
    promtool_check(&text);
}

metric! {
    /// Checkouts, with exemplars.
    pub counter X_CHECKOUTS("exemplar_checkouts_total", queue: Queue);
    /// Checkout latency, with exemplars.
    pub histogram X_LATENCY("exemplar_latency_seconds", buckets = [0.1, 1.0], unit = "seconds");
}

/// Exemplars recorded on counters and histogram buckets reach the OpenMetrics exposition
/// with the exact ids, and the reference parser reads them back; the text format leaves
/// them out.
#[test]
fn stored_exemplars_are_exposed() {
    let registry = Registry::new();
    registry.register(&X_CHECKOUTS).expect("unique");
    registry.register(&X_LATENCY).expect("unique");
    let trace = [0xab; 16];
    let span = [0xcd; 8];
    X_CHECKOUTS
        .with(Queue::Mail)
        .inc_by_with_exemplar(3, trace, span);
    X_LATENCY.observe(0.05);
    X_LATENCY.observe_with_exemplar(0.4, trace, span);
    X_LATENCY.observe_with_exemplar(7.0, [0x01; 16], [0x02; 8]);

    let om = registry.encode(Format::OpenMetrics);
    let parsed = samples(&python_parse("openmetrics", &om));
    let with: Vec<_> = parsed
        .iter()
        .filter_map(|s| {
            s.exemplar
                .clone()
                .map(|e| (s.name.clone(), s.labels.clone(), e))
        })
        .collect();
    let ab = "ab".repeat(16);
    let cd = "cd".repeat(8);
    assert_eq!(with.len(), 3, "{om}");
    assert_eq!(with[0].0, "exemplar_checkouts_total");
    assert_eq!(with[0].1["queue"], "mail");
    assert_eq!(with[0].2, (ab.clone(), cd.clone(), 3.0));
    assert_eq!(with[1].0, "exemplar_latency_seconds_bucket");
    assert_eq!(with[1].1["le"], "1.0");
    assert_eq!(with[1].2, (ab, cd, 0.4));
    assert_eq!(with[2].1["le"], "+Inf");
    assert_eq!(with[2].2, ("01".repeat(16), "02".repeat(8), 7.0));
    // The bucket without a traced observation has none.
    let first = parsed
        .iter()
        .find(|s| s.name == "exemplar_latency_seconds_bucket" && s.labels["le"] == "0.1")
        .expect("bucket");
    assert_eq!((first.value, first.exemplar.is_none()), (1.0, true));

    let text = registry.encode(Format::Prometheus);
    assert!(!text.contains("trace_id"), "{text}");
    promtool_check(&text);
}
