//! Runs observed calls with span export on, one batch at a time and flushed, for a
//! profiler: `valgrind --tool=callgrind target/release/examples/profile_export 200000`
//! (every call succeeds), `… 200000 err` (every call fails).

use std::hint::black_box;

use obs_runtime::observe;

#[observe]
#[inline(never)]
fn obs_call(x: u64) -> Result<u64, std::io::Error> {
    if x % 2 == 1 {
        return Err(std::io::Error::other("odd"));
    }
    Ok(x / 2)
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(200_000);
    let fail = u64::from(std::env::args().nth(2).is_some_and(|a| a == "err"));
    let addr = obs_benches::otlp_sink();
    let telemetry = obs_runtime::init()
        .env(Vec::<(String, String)>::new())
        .otlp_endpoint(format!("http://{addr}"))
        .metrics_addr(None)
        .logs(false)
        .build()
        .expect("pipeline");
    let pipeline = telemetry.guard.pipeline().expect("exporting").clone();
    tracing::dispatcher::with_default(&telemetry.dispatch, || {
        for i in 0..n {
            let _ = black_box(obs_call(black_box(i * 2 + fail)));
            // One batch at a time, flushed, so no span is dropped at a full queue and the
            // profile holds their encoding and sending too.
            if i % 512 == 511 {
                assert!(pipeline.force_flush(std::time::Duration::from_secs(10)));
            }
        }
    });
    assert!(pipeline.force_flush(std::time::Duration::from_secs(10)));
    let stats = pipeline.stats();
    assert_eq!(stats.queue_full, 0, "{stats:?}");
    eprintln!("{stats:?}");
}
