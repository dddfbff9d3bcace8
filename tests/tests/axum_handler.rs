//! The `/metrics` handler in a user's own axum router.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;

obs_runtime::metric! {
    /// Events counted by the axum handler test.
    pub counter AXUM_EVENTS("axum_handler_test_events_total");
}

async fn call(app: &Router, path: &str, headers: &[(&str, &str)]) -> (StatusCode, String, String) {
    let mut request = Request::get(path);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    let www = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = String::from_utf8(
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    (
        status,
        content_type,
        www.map_or(body.clone(), |w| format!("{w}|{body}")),
    )
}

#[tokio::test]
async fn metrics_in_a_user_router() {
    AXUM_EVENTS.inc_by(3);
    let app = Router::new()
        .route("/metrics", get(obs_runtime::axum::metrics_handler(None)))
        .route(
            "/private/metrics",
            get(obs_runtime::axum::metrics_handler(Some("t0k".into()))),
        );

    let (status, content_type, body) = call(&app, "/metrics", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    assert!(
        body.contains("axum_handler_test_events_total 3\n"),
        "{body}"
    );

    let (status, content_type, body) = call(
        &app,
        "/metrics",
        &[("accept", "application/openmetrics-text; version=1.0.0")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("application/openmetrics-text; version=1.0.0"));
    assert!(body.ends_with("# EOF\n"));

    let (status, _, body) = call(&app, "/private/metrics", &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, "Bearer realm=\"metrics\"|unauthorized\n");
    let (status, _, _) = call(
        &app,
        "/private/metrics",
        &[("authorization", "Bearer nope")],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, body) =
        call(&app, "/private/metrics", &[("authorization", "Bearer t0k")]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("axum_handler_test_events_total 3\n"));
}
