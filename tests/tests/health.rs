//! Health checks: `/health/live`, `/health/ready` with each component's state and 503
//! when one fails or times out, and `app_health{component}`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use obs_runtime::axum::Health;
use serde_json::{Value, json};
use tower::ServiceExt as _;

async fn get(app: &axum::Router, path: &str) -> (StatusCode, Value) {
    get_with(app, path, None).await
}

fn gauge(component: &str) -> Option<f64> {
    obs_tests::global_sample("app_health", &[("component", component)])
}

/// Takes each component's `latency_ms` out of a `/health/ready` body, so that the rest
/// can be compared whole: the latencies, by component.
fn take_latencies(body: &mut Value) -> BTreeMap<String, f64> {
    body["components"]
        .as_object_mut()
        .unwrap_or_else(|| panic!("no components"))
        .iter_mut()
        .map(|(name, component)| {
            let latency = component
                .as_object_mut()
                .and_then(|c| c.remove("latency_ms"))
                .and_then(|l| l.as_f64())
                .unwrap_or_else(|| panic!("{name} has no latency_ms"));
            (name.clone(), latency)
        })
        .collect()
}

/// `/health/ready` with `auth`: the status, the body without latencies, the latencies.
async fn ready_with(
    app: &axum::Router,
    auth: Option<&str>,
) -> (StatusCode, Value, BTreeMap<String, f64>) {
    let (status, mut body) = get_with(app, "/health/ready", auth).await;
    let latencies = take_latencies(&mut body);
    (status, body, latencies)
}

#[tokio::test]
async fn readiness_follows_the_checks() {
    let cache_up = Arc::new(AtomicBool::new(true));
    // Every probe runs the checks here: the cache has its own test.
    let health = Health::new().cache_for(Duration::ZERO);
    // Takes 50 ms: its latency is known from below, and from above by its timeout (a
    // check that timed out is down).
    health.register("hc_database", Duration::from_secs(1), || async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        Ok(())
    });
    let flag = Arc::clone(&cache_up);
    health.register("hc_cache", Duration::from_millis(200), move || {
        let up = flag.load(Ordering::Relaxed);
        async move {
            if up {
                Ok(())
            } else {
                Err("connection refused".to_owned())
            }
        }
    });
    let app: axum::Router = health.router();

    assert_eq!(
        get(&app, "/health/live").await,
        (StatusCode::OK, json!({"status": "alive"}))
    );

    let (status, body, latency) = ready_with(&app, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({
            "status": "ready",
            "components": {
                "hc_cache": {"status": "up"},
                "hc_database": {"status": "up"},
            },
        })
    );
    // Measured: at least the 50 ms it sleeps, and within its 1 s timeout; the cache's check
    // returns at once, within its 200 ms timeout.
    assert!(
        (50.0..1000.0).contains(&latency["hc_database"]),
        "{latency:?}"
    );
    assert!((0.0..200.0).contains(&latency["hc_cache"]), "{latency:?}");
    assert_eq!(gauge("hc_cache"), Some(1.0));
    assert_eq!(gauge("hc_database"), Some(1.0));

    cache_up.store(false, Ordering::Relaxed);
    let (status, body, latency) = ready_with(&app, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        body,
        json!({
            "status": "not ready",
            "components": {
                "hc_cache": {"status": "down", "error": "connection refused"},
                "hc_database": {"status": "up"},
            },
        })
    );
    assert!(
        (50.0..1000.0).contains(&latency["hc_database"]),
        "{latency:?}"
    );
    assert!((0.0..200.0).contains(&latency["hc_cache"]), "{latency:?}");
    assert_eq!(gauge("hc_cache"), Some(0.0));
    assert_eq!(gauge("hc_database"), Some(1.0));

    // A check that hangs fails at its timeout, without holding the others up.
    health.register("hc_queue", Duration::from_millis(100), || async {
        tokio::time::sleep(Duration::from_secs(30)).await;
        Ok(())
    });
    cache_up.store(true, Ordering::Relaxed);
    let started = std::time::Instant::now();
    let (status, body, latency) = ready_with(&app, None).await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        body,
        json!({
            "status": "not ready",
            "components": {
                "hc_cache": {"status": "up"},
                "hc_database": {"status": "up"},
                "hc_queue": {"status": "down", "error": "timed out after 100ms"},
            },
        })
    );
    // The hung check is given up at its 100 ms timeout, not before.
    assert!(
        (100.0..2000.0).contains(&latency["hc_queue"]),
        "{latency:?}"
    );
    assert!(
        (50.0..1000.0).contains(&latency["hc_database"]),
        "{latency:?}"
    );
    assert_eq!(gauge("hc_queue"), Some(0.0));
    assert_eq!(gauge("hc_cache"), Some(1.0));
    assert_eq!(gauge("hc_database"), Some(1.0));
    let text = obs_runtime::Registry::global().render(None).body;
    obs_tests::promtool_check(&text);
}

async fn get_with(app: &axum::Router, path: &str, auth: Option<&str>) -> (StatusCode, Value) {
    let mut request = Request::get(path);
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    assert_eq!(response.headers()["content-type"], "application/json");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap())
}

/// Probes within the cache's lifetime reuse one report: a burst of 50 probes runs each
/// check once, not 50 times. A new registration drops the cached report.
#[tokio::test]
async fn readiness_reports_are_cached() {
    use std::sync::atomic::AtomicUsize;
    let runs = Arc::new(AtomicUsize::new(0));
    let health = Health::new().cache_for(Duration::from_millis(300));
    let counter = Arc::clone(&runs);
    health.register("hcc_db", Duration::from_millis(200), move || {
        counter.fetch_add(1, Ordering::Relaxed);
        async { Ok(()) }
    });
    let app: axum::Router = health.router();
    let first = get(&app, "/health/ready").await;
    for _ in 1..50 {
        // The very same report, latency included.
        assert_eq!(get(&app, "/health/ready").await, first);
    }
    assert_eq!(runs.load(Ordering::Relaxed), 1);
    let ready = json!({"status": "ready", "components": {"hcc_db": {"status": "up"}}});
    let (status, mut body) = first;
    take_latencies(&mut body);
    assert_eq!((status, body), (StatusCode::OK, ready.clone()));
    tokio::time::sleep(Duration::from_millis(350)).await;
    let (status, body, _) = ready_with(&app, None).await;
    assert_eq!((status, body), (StatusCode::OK, ready));
    assert_eq!(runs.load(Ordering::Relaxed), 2);
    health.register("hcc_cache", Duration::from_millis(200), || async {
        Err("down".to_owned())
    });
    let (status, body, _) = ready_with(&app, None).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({
                "status": "not ready",
                "components": {
                    "hcc_cache": {"status": "down", "error": "down"},
                    "hcc_db": {"status": "up"},
                },
            })
        )
    );
    assert_eq!(runs.load(Ordering::Relaxed), 3);
    assert_eq!(gauge("hcc_cache"), Some(0.0));
    assert_eq!(gauge("hcc_db"), Some(1.0));
}

/// Error messages (which can name hosts and ports) are hidden from callers without the
/// token; the status of each component stays visible.
#[tokio::test]
async fn error_details_only_with_the_token() {
    let health = Health::new().cache_for(Duration::ZERO).error_details(
        obs_runtime::axum::ErrorDetails::WithToken("s3cret".to_owned()),
    );
    health.register("hcd_db", Duration::from_millis(200), || async {
        Err("connect to 10.1.2.3:5432 failed".to_owned())
    });
    let app: axum::Router = health.router();
    for auth in [None, Some("Bearer wrong"), Some("s3cret")] {
        let (status, body, _) = ready_with(&app, auth).await;
        assert_eq!(
            (status, body),
            (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"status": "not ready", "components": {"hcd_db": {"status": "down"}}})
            ),
            "{auth:?}"
        );
    }
    let (status, body, _) = ready_with(&app, Some("Bearer s3cret")).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({
                "status": "not ready",
                "components": {
                    "hcd_db": {"status": "down", "error": "connect to 10.1.2.3:5432 failed"},
                },
            })
        )
    );
    assert_eq!(gauge("hcd_db"), Some(0.0));
    let hidden = Health::new()
        .cache_for(Duration::ZERO)
        .error_details(obs_runtime::axum::ErrorDetails::Hidden);
    hidden.register("hcd_q", Duration::from_millis(200), || async {
        Err("queue at 10.0.0.9".to_owned())
    });
    let (status, body, _) = ready_with(&hidden.router(), Some("Bearer s3cret")).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"status": "not ready", "components": {"hcd_q": {"status": "down"}}})
        )
    );
    assert_eq!(gauge("hcd_q"), Some(0.0));
}
