//! The USE side: Tokio runtime gauges that move with the load, opted into with one builder
//! call, and `target_info` carrying the service's identity.

use std::sync::Arc;
use std::time::{Duration, Instant};

use obs_tests::global_sample;

/// Polls a sample of the global registry until it equals `want`.
fn wait_for(name: &str, labels: &[(&str, &str)], want: f64) -> Option<f64> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let value = global_sample(name, labels);
        if value == Some(want) || Instant::now() > deadline {
            return value;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn tokio_gauges_move_with_the_load_and_target_info_names_the_service() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let telemetry = obs_runtime::init()
        .env(Vec::<(String, String)>::new())
        .service_name("inventory")
        .service_version("1.2.3")
        .environment("staging")
        .metrics_addr(None)
        .logs(false)
        .tokio_runtime(rt.handle().clone())
        .build()
        .unwrap();

    let text = obs_runtime::Registry::global().render(None).body;
    assert!(
        text.contains(
            "target_info{deployment_environment_name=\"staging\",service_name=\"inventory\",service_version=\"1.2.3\"} 1\n"
        ),
        "{text}"
    );
    assert_eq!(global_sample("tokio_workers", &[]), Some(2.0));
    assert_eq!(wait_for("tokio_alive_tasks", &[], 0.0), Some(0.0));

    // 40 tasks parked on a gate: exactly 40 alive; released, back to 0.
    let gate = Arc::new(tokio::sync::Notify::new());
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    for _ in 0..40 {
        let gate = Arc::clone(&gate);
        let started = started_tx.clone();
        rt.spawn(async move {
            let notified = gate.notified();
            started.send(()).unwrap();
            notified.await;
        });
    }
    for _ in 0..40 {
        started_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    }
    assert_eq!(global_sample("tokio_alive_tasks", &[]), Some(40.0));
    gate.notify_waiters();
    assert_eq!(wait_for("tokio_alive_tasks", &[], 0.0), Some(0.0));

    // Busy time and parks per worker, both workers present; a busy worker's time grows.
    let busy = |w: &str| global_sample("tokio_worker_busy_seconds_total", &[("worker", w)]);
    let before = busy("0").unwrap() + busy("1").unwrap();
    rt.block_on(async {
        let spin = tokio::spawn(async {
            let until = Instant::now() + Duration::from_millis(200);
            while Instant::now() < until {
                std::hint::spin_loop();
            }
        });
        spin.await.unwrap();
    });
    // Tokio adds a worker's busy time when the worker parks, which may come just after
    // the task ends: wait for it (at most 10 s).
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut after = busy("0").unwrap() + busy("1").unwrap();
    while after - before < 0.15 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
        after = busy("0").unwrap() + busy("1").unwrap();
    }
    assert!(after - before >= 0.15, "{before} -> {after}");
    assert!(global_sample("tokio_worker_parks_total", &[("worker", "1")]).is_some());
    drop(telemetry);
}
