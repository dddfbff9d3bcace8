//! N threads x M updates give exact totals: no update is lost on the lock-free paths.

use std::thread;

use obs_runtime::{HttpMethod, Label, StatusClass, metric};

/// Contended label values.
#[derive(Clone, Copy, Debug, Label)]
pub enum Shard {
    /// One.
    One,
    /// Two.
    Two,
}

metric! {
    /// Contended counter.
    pub counter C_EVENTS("conc_events_total", method: HttpMethod, status: StatusClass, shard: Shard);
    /// Contended float counter.
    pub float_counter C_SECONDS("conc_busy_seconds_total", unit = "seconds");
    /// Contended gauge.
    pub gauge C_LEVEL("conc_level");
    /// Contended float gauge.
    pub float_gauge C_FLOAT_LEVEL("conc_float_level");
    /// Contended histogram.
    pub histogram C_LATENCY("conc_latency_seconds", shard: Shard, buckets = [0.5, 1.5, 2.5]);
    /// Contended summary.
    pub summary C_SIZE("conc_size_bytes");
}

const THREADS: u64 = 8;
const UPDATES: u64 = 20_000;

/// The value of the sample whose line starts with `series ` (or `series{..} `) in `text`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l[series.len() + 1..].split(' ').next())
        .map(|v| v.parse().unwrap())
}

/// What one scrape shows of the contended families: (a counter, the histogram's count, its
/// `+Inf` bucket, the summary's count).
fn scrape(openmetrics: bool) -> (f64, f64, f64, f64) {
    let accept = openmetrics.then_some("application/openmetrics-text; version=1.0.0");
    let text = obs_runtime::Registry::global().render(accept).body;
    let get = |s: &str| sample(&text, s).unwrap_or_else(|| panic!("{s} missing:\n{text}"));
    (
        get(r#"conc_events_total{method="GET",status="2xx",shard="one"}"#),
        get(r#"conc_latency_seconds_count{shard="one"}"#),
        get(r#"conc_latency_seconds_bucket{shard="one",le="+Inf"}"#),
        get("conc_size_bytes_count"),
    )
}

#[test]
fn threads_times_updates_are_exact() {
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    let writing = AtomicUsize::new(THREADS as usize);
    // The writers start after the first scrape, so scrapes overlap the writing.
    let first_scrape_done = AtomicU64::new(0);
    let total_scrapes = thread::scope(|s| {
        // Scrapes in both formats, as long as the writers write: counters never go down,
        // and every histogram's count is its `+Inf` bucket.
        let (writing_ref, done_ref) = (&writing, &first_scrape_done);
        let scraper = s.spawn(move || {
            let mut last = (0.0, 0.0, 0.0, 0.0);
            let mut count = 0u64;
            while count == 0 || writing_ref.load(Ordering::Acquire) > 0 {
                let now = scrape(count % 2 == 1);
                assert_eq!(now.1, now.2, "histogram count != +Inf bucket");
                assert!(
                    now.0 >= last.0 && now.1 >= last.1 && now.3 >= last.3,
                    "{last:?} -> {now:?}"
                );
                last = now;
                count += 1;
                done_ref.store(count, Ordering::Release);
            }
            count
        });
        for t in 0..THREADS {
            let (writing, first) = (&writing, &first_scrape_done);
            s.spawn(move || {
                while first.load(Ordering::Acquire) == 0 {
                    thread::yield_now();
                }
                let shard = if t % 2 == 0 { Shard::One } else { Shard::Two };
                for i in 0..UPDATES {
                    C_EVENTS
                        .with(HttpMethod::Get, StatusClass::Success, shard)
                        .inc();
                    C_EVENTS
                        .with(HttpMethod::Post, StatusClass::ServerError, Shard::One)
                        .inc_by(2);
                    C_SECONDS.inc_by(0.5);
                    C_LEVEL.inc();
                    C_LEVEL.dec();
                    C_LEVEL.add(1);
                    C_FLOAT_LEVEL.add(0.25);
                    // 0, 1, 2, 3 cycling: one observation per bucket, +Inf included.
                    C_LATENCY.with(shard).observe((i % 4) as f64);
                    C_SIZE.observe(1024.0);
                }
                writing.fetch_sub(1, Ordering::Release);
            });
        }
        scraper.join().unwrap()
    });
    assert!(total_scrapes >= 2, "{total_scrapes} scrapes");
    // The last word of both formats, read by the reference parsers.
    let registry = obs_runtime::Registry::global();
    obs_tests::python_parse("prometheus", &registry.render(None).body);
    obs_tests::python_parse(
        "openmetrics",
        &registry
            .render(Some("application/openmetrics-text; version=1.0.0"))
            .body,
    );
    let total = THREADS * UPDATES;
    assert_eq!(
        C_EVENTS
            .with(HttpMethod::Get, StatusClass::Success, Shard::One)
            .get(),
        total / 2
    );
    assert_eq!(
        C_EVENTS
            .with(HttpMethod::Get, StatusClass::Success, Shard::Two)
            .get(),
        total / 2
    );
    assert_eq!(
        C_EVENTS
            .with(HttpMethod::Post, StatusClass::ServerError, Shard::One)
            .get(),
        2 * total
    );
    assert_eq!(
        C_EVENTS
            .with(HttpMethod::Put, StatusClass::Success, Shard::One)
            .get(),
        0
    );
    assert_eq!(C_SECONDS.get(), 0.5 * total as f64);
    assert_eq!(C_LEVEL.get(), total as i64);
    assert_eq!(C_FLOAT_LEVEL.get(), 0.25 * total as f64);
    for shard in [Shard::One, Shard::Two] {
        let h = C_LATENCY.with(shard);
        let per_shard = total / 2;
        assert_eq!(h.count(), per_shard);
        assert_eq!(
            h.bucket_counts(),
            vec![per_shard / 4, per_shard / 2, 3 * per_shard / 4, per_shard]
        );
        assert_eq!(h.sum(), (0.0 + 1.0 + 2.0 + 3.0) * (per_shard / 4) as f64);
    }
    assert_eq!(C_SIZE.count(), total);
    assert_eq!(C_SIZE.sum(), 1024.0 * total as f64);
    let p99 = C_SIZE.quantile(0.99);
    assert!((p99 - 1024.0).abs() / 1024.0 <= 0.01, "p99 {p99}");
}
