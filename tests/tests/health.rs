//! Health checks: `/health/live`, `/health/ready` with each component's state and 503
//! when one fails or times out, and `app_health{component}`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use obs_runtime::axum::Health;
use serde_json::Value;
use tower::ServiceExt as _;

async fn get(app: &axum::Router, path: &str) -> (StatusCode, Value) {
    get_with(app, path, None).await
}

fn gauge(component: &str) -> Option<f64> {
    obs_tests::global_sample("app_health", &[("component", component)])
}

#[tokio::test]
async fn readiness_follows_the_checks() {
    let cache_up = Arc::new(AtomicBool::new(true));
    // Every probe runs the checks here: the cache has its own test.
    let health = Health::new().cache_for(Duration::ZERO);
    health.register("hc_database", Duration::from_millis(200), || async {
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

    let (status, body) = get(&app, "/health/live").await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("alive"))
    );

    let (status, body) = get(&app, "/health/ready").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ready");
    assert_eq!(body["components"]["hc_database"]["status"], "up");
    assert_eq!(body["components"]["hc_cache"]["status"], "up");
    // Measured, and within the check's 200 ms timeout (a check that timed out is down).
    let latency = body["components"]["hc_cache"]["latency_ms"]
        .as_f64()
        .unwrap();
    assert!((0.0..200.0).contains(&latency), "{latency}");
    assert_eq!(gauge("hc_cache"), Some(1.0));

    cache_up.store(false, Ordering::Relaxed);
    let (status, body) = get(&app, "/health/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "not ready");
    assert_eq!(body["components"]["hc_cache"]["status"], "down");
    assert_eq!(
        body["components"]["hc_cache"]["error"],
        "connection refused"
    );
    assert_eq!(body["components"]["hc_database"]["status"], "up");
    assert_eq!(gauge("hc_cache"), Some(0.0));
    assert_eq!(gauge("hc_database"), Some(1.0));

    // A check that hangs fails at its timeout, without holding the others up.
    health.register("hc_queue", Duration::from_millis(100), || async {
        tokio::time::sleep(Duration::from_secs(30)).await;
        Ok(())
    });
    cache_up.store(true, Ordering::Relaxed);
    let started = std::time::Instant::now();
    let (status, body) = get(&app, "/health/ready").await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["components"]["hc_queue"]["status"], "down");
    assert_eq!(
        body["components"]["hc_queue"]["error"],
        "timed out after 100ms"
    );
    assert_eq!(body["components"]["hc_cache"]["status"], "up");
    assert_eq!(gauge("hc_queue"), Some(0.0));
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
    for _ in 0..50 {
        assert_eq!(get(&app, "/health/ready").await.0, StatusCode::OK);
    }
    assert_eq!(runs.load(Ordering::Relaxed), 1);
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(get(&app, "/health/ready").await.0, StatusCode::OK);
    assert_eq!(runs.load(Ordering::Relaxed), 2);
    health.register("hcc_cache", Duration::from_millis(200), || async {
        Err("down".to_owned())
    });
    assert_eq!(
        get(&app, "/health/ready").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(runs.load(Ordering::Relaxed), 3);
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
        let (status, body) = get_with(&app, "/health/ready", auth).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["components"]["hcd_db"]["status"], "down");
        assert!(
            body["components"]["hcd_db"].get("error").is_none(),
            "{body}"
        );
    }
    let (_, body) = get_with(&app, "/health/ready", Some("Bearer s3cret")).await;
    assert_eq!(
        body["components"]["hcd_db"]["error"],
        "connect to 10.1.2.3:5432 failed"
    );
    let hidden = Health::new()
        .cache_for(Duration::ZERO)
        .error_details(obs_runtime::axum::ErrorDetails::Hidden);
    hidden.register("hcd_q", Duration::from_millis(200), || async {
        Err("queue at 10.0.0.9".to_owned())
    });
    let (_, body) = get_with(&hidden.router(), "/health/ready", Some("Bearer s3cret")).await;
    assert!(body["components"]["hcd_q"].get("error").is_none(), "{body}");
}
