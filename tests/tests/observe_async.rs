//! `#[observe]` on async functions: outcomes across awaits, cancellation by `timeout` and
//! `select!`, panics inside a task, and the in-flight gauge under heavy concurrency.

use std::time::Duration;

use obs_runtime::{
    observe,
    observe::{FnSite, observed_function},
};
use obs_tests::capture::Capture;

fn site(function: &str) -> &'static FnSite {
    observed_function(module_path!(), function).unwrap_or_else(|| panic!("{function} observed"))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime")
}

#[observe(fields(user = user))]
async fn load_profile(user: u32) -> Result<String, std::io::Error> {
    tokio::time::sleep(Duration::from_millis(2)).await;
    tracing::info!("loaded");
    if user == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no such user",
        ));
    }
    Ok(format!("user-{user}"))
}

#[test]
fn async_outcomes_and_span_across_awaits() {
    let capture = Capture::default();
    capture.run(|| {
        runtime().block_on(async {
            assert_eq!(load_profile(7).await.ok().as_deref(), Some("user-7"));
            assert!(load_profile(0).await.is_err());
        });
    });
    let s = site("load_profile");
    assert_eq!(s.calls("ok"), 1);
    assert_eq!(s.errors("io::Error"), 1);
    assert_eq!(s.in_flight(), 0);
    let count = s.duration().count();
    assert_eq!(count, 2);
    // Both calls slept 2 ms; the timer ran across the await.
    assert!(s.duration().sum() >= 0.004, "{}", s.duration().sum());

    let captured = capture.captured();
    let spans = captured.spans_named("load_profile");
    assert_eq!(spans.len(), 2);
    assert_eq!(spans[0].fields["user"], "7");
    assert!(!spans[0].fields.contains_key("otel.status_code"));
    assert_eq!(spans[1].fields["otel.status_code"], "ERROR");
    assert_eq!(spans[1].fields["error.type"], "io::Error");
    // The event after the await is still inside the span.
    let loaded: Vec<_> = captured
        .events
        .iter()
        .filter(|e| e.fields.get("message").map(String::as_str) == Some("loaded"))
        .collect();
    assert_eq!(loaded.len(), 2);
    assert!(
        loaded
            .iter()
            .all(|e| e.span.as_deref() == Some("load_profile"))
    );
    let exceptions = captured.events_for("obs::exception");
    assert_eq!(exceptions.len(), 1);
    assert_eq!(exceptions[0].fields["exception.message"], "no such user");
}

#[observe]
async fn slow(ms: u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    ms
}

#[test]
fn dropped_futures_are_cancelled_and_leave_in_flight_at_zero() {
    runtime().block_on(async {
        assert!(
            tokio::time::timeout(Duration::from_millis(5), slow(10_000))
                .await
                .is_err()
        );
        tokio::select! {
            v = slow(10_000) => panic!("finished {v}"),
            () = tokio::time::sleep(Duration::from_millis(5)) => {}
        }
        assert_eq!(slow(1).await, 1);
        // Created but never polled: not a call at all.
        drop(slow(1));
    });
    let s = site("slow");
    assert_eq!(s.calls("cancelled"), 2);
    assert_eq!(s.calls("ok"), 1);
    assert_eq!(s.calls("error"), 0);
    assert_eq!(s.in_flight(), 0);
    assert_eq!(s.duration().count(), 3);
}

#[observe]
async fn crash(n: u32) -> u32 {
    tokio::task::yield_now().await;
    assert!(n < 3, "crash at {n}");
    n
}

#[test]
fn a_panicking_task_is_recorded_once_as_panic() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    rt.block_on(async {
        assert_eq!(tokio::spawn(crash(1)).await.ok(), Some(1));
        let err = tokio::spawn(crash(5)).await.expect_err("task panicked");
        assert!(err.is_panic());
    });
    let s = site("crash");
    assert_eq!(s.calls("ok"), 1);
    assert_eq!(s.errors("panic"), 1);
    assert_eq!(s.calls("error"), 1);
    assert_eq!(s.calls("cancelled"), 0);
    assert_eq!(s.in_flight(), 0);
}

static WORK_STARTED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

#[observe]
async fn work(i: u64) -> Result<u64, std::fmt::Error> {
    WORK_STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    for _ in 0..(i % 3) {
        tokio::task::yield_now().await;
    }
    if i.is_multiple_of(5) {
        // Only an abort ends these.
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    if i.is_multiple_of(7) {
        Err(std::fmt::Error)
    } else {
        Ok(i)
    }
}

/// 10 000 concurrent tasks, a random third of them aborted: every call that started is
/// counted exactly once under the result its task saw, and in-flight returns to zero.
#[test]
fn ten_thousand_tasks_with_random_cancellations() {
    const TASKS: u64 = 10_000;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("runtime");
    let mut rng = obs_tests::Rng::new(0x5eed_1234);
    let (ok, failed) = rt.block_on(async {
        let handles: Vec<_> = (0..TASKS).map(|i| tokio::spawn(work(i))).collect();
        // Every task starts (the long sleepers among them) before any is aborted.
        while WORK_STARTED.load(std::sync::atomic::Ordering::Relaxed) < TASKS {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        for (i, handle) in handles.iter().enumerate() {
            if i % 5 == 0 || rng.below(3) == 0 {
                handle.abort();
            }
        }
        let (mut ok, mut failed) = (0u64, 0u64);
        for handle in handles {
            match handle.await {
                Ok(Ok(_)) => ok += 1,
                Ok(Err(_)) => failed += 1,
                Err(e) => assert!(e.is_cancelled()),
            }
        }
        (ok, failed)
    });
    let started = WORK_STARTED.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(started, TASKS);
    let s = site("work");
    assert_eq!(s.calls("ok"), ok);
    assert_eq!(s.calls("error"), failed);
    assert_eq!(s.errors("fmt::Error"), failed);
    assert_eq!(s.calls("cancelled"), started - ok - failed);
    assert_eq!(s.duration().count(), started);
    assert_eq!(s.in_flight(), 0);
    assert!(ok > 0 && failed > 0, "ok {ok}, failed {failed}");
    // Every long sleeper (one task in five) started and was aborted mid-call; the other
    // aborted tasks may have finished first.
    assert!(
        s.calls("cancelled") >= TASKS / 5,
        "{}",
        s.calls("cancelled")
    );
}
