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

#[test]
fn threads_times_updates_are_exact() {
    thread::scope(|s| {
        for t in 0..THREADS {
            s.spawn(move || {
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
            });
        }
    });
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
