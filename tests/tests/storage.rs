//! Storage behaviour: summaries forget old observations, large families expose only used
//! series, bad observations are ignored instead of corrupting state.

use std::time::Duration;

use obs_runtime::{
    HttpMethod, Registry, StatusClass, Summary, metric,
    metrics::{Format, SummaryOptions},
};

metric! {
    /// A family of 480 combinations, above the eager exposure limit.
    pub counter WIDE("storage_wide_total", method: HttpMethod, status: StatusClass, a: bool, b: bool, c: bool);
    /// Histogram fed bad values.
    pub histogram ODD("storage_odd_seconds", buckets = [1.0]);
    /// Histogram fed by a timer.
    pub histogram TIMED("storage_timed_seconds");
    /// Float counter fed negative values.
    pub float_counter SPENT("storage_spent_seconds_total");
}

#[test]
fn summary_window_forgets_old_observations_but_not_count_and_sum() {
    let summary = Summary::with_options(SummaryOptions {
        quantiles: &[0.5],
        max_age: Duration::from_millis(400),
        age_buckets: 2,
    });
    for _ in 0..10 {
        summary.observe(10.0);
    }
    let p50 = summary.quantile(0.5);
    assert!((p50 - 10.0).abs() <= 0.1, "{p50}");
    std::thread::sleep(Duration::from_millis(900));
    assert!(
        summary.quantile(0.5).is_nan(),
        "the window has moved past every observation"
    );
    summary.observe(1000.0);
    let p50 = summary.quantile(0.5);
    assert!((p50 - 1000.0).abs() <= 10.0, "{p50}");
    assert_eq!(summary.count(), 11);
    assert_eq!(summary.sum(), 1100.0);
}

#[test]
fn summary_quantiles_are_within_one_percent() {
    let summary = Summary::with_options(SummaryOptions::DEFAULT);
    for i in 1..=10_000 {
        summary.observe(f64::from(i) / 1000.0);
    }
    for (q, exact) in [(0.5, 5.0), (0.9, 9.0), (0.99, 9.9)] {
        let got = summary.quantile(q);
        assert!(
            (got - exact).abs() / exact <= 0.01,
            "q{q}: {got} vs {exact}"
        );
    }
    assert!(summary.quantile(0.0) <= 0.00101);
}

#[test]
fn wide_families_expose_only_used_series() {
    let registry = Registry::new();
    registry.register(&WIDE).expect("unique");
    assert_eq!(
        registry.encode(Format::Prometheus),
        "# HELP storage_wide_total A family of 480 combinations, above the eager exposure limit.\n# TYPE storage_wide_total counter\n"
    );
    WIDE.with(
        HttpMethod::Patch,
        StatusClass::ClientError,
        true,
        false,
        true,
    )
    .inc();
    let text = registry.encode(Format::Prometheus);
    assert!(text.ends_with(
        "storage_wide_total{method=\"PATCH\",status=\"4xx\",a=\"true\",b=\"false\",c=\"true\"} 1\n"
    ), "{text}");
    assert_eq!(text.lines().count(), 3);
}

/// Non-finite observations are counted where they fall and never poison `_sum`: once
/// `+Inf` and `-Inf` were both observed, the sum used to be NaN for good.
#[test]
fn non_finite_observations_never_poison_the_series() {
    ODD.observe(f64::NAN);
    ODD.observe(f64::INFINITY);
    ODD.observe(f64::NEG_INFINITY);
    ODD.observe(0.5);
    ODD.observe(2.0);
    assert_eq!(ODD.bucket_counts(), vec![2, 5]);
    assert_eq!(ODD.count(), 5);
    assert_eq!(ODD.sum(), 2.5);
    let registry = Registry::new();
    registry.register(&ODD).expect("unique");
    let text = registry.encode(Format::Prometheus);
    assert!(text.contains("_sum 2.5\n"), "{text}");
    obs_tests::promtool_check(&text);
    let parsed = obs_tests::python_parse("prometheus", &text);
    let sum = obs_tests::samples(&parsed)
        .into_iter()
        .find(|s| s.name.ends_with("_sum"))
        .expect("a _sum sample");
    assert_eq!(sum.value, 2.5);
}

#[test]
fn bad_counter_increments_are_ignored() {
    SPENT.inc_by(2.0);
    SPENT.inc_by(-1.0);
    SPENT.inc_by(f64::NAN);
    assert_eq!(SPENT.get(), 2.0);
}

#[test]
fn timer_observes_elapsed_seconds() {
    {
        let _timer = TIMED.start_timer();
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(TIMED.count(), 1);
    assert!((0.02..1.0).contains(&TIMED.sum()), "{}", TIMED.sum());
    // 20 ms or more: nothing in the 5 ms and 10 ms buckets.
    assert_eq!(TIMED.bucket_counts()[..2], [0, 0]);
}
