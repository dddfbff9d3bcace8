//! The `/metrics` handler in a user's own axum router.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use http_body_util::BodyExt as _;
use obs_tests::lines_of;
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

/// The counter's family in the Prometheus text format, after `inc_by(3)`.
const EVENTS_TEXT: [&str; 3] = [
    "# HELP axum_handler_test_events_total Events counted by the axum handler test.",
    "# TYPE axum_handler_test_events_total counter",
    "axum_handler_test_events_total 3",
];

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
    assert_eq!(lines_of(&body, "axum_handler_"), EVENTS_TEXT, "{body}");

    let (status, content_type, body) = call(
        &app,
        "/metrics",
        &[("accept", "application/openmetrics-text; version=1.0.0")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        content_type,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(body.ends_with("\n# EOF\n"), "{body}");
    assert_eq!(body.matches("# EOF").count(), 1, "{body}");
    // The family exactly, but for the value of `_created`: a timestamp of this run.
    let om = lines_of(&body, "axum_handler_");
    assert_eq!(om.len(), 4, "{body}");
    assert_eq!(
        om[..3],
        [
            "# TYPE axum_handler_test_events counter",
            "# HELP axum_handler_test_events Events counted by the axum handler test.",
            "axum_handler_test_events_total 3",
        ],
        "{body}"
    );
    let created: f64 = om[3]
        .strip_prefix("axum_handler_test_events_created ")
        .expect("the _created sample")
        .parse()
        .expect("a timestamp");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64();
    assert!(0.0 < created && created <= now, "{created} vs {now}");

    let unauthorized = (
        StatusCode::UNAUTHORIZED,
        "text/plain; charset=utf-8".to_owned(),
        "Bearer realm=\"metrics\"|unauthorized\n".to_owned(),
    );
    assert_eq!(call(&app, "/private/metrics", &[]).await, unauthorized);
    assert_eq!(
        call(
            &app,
            "/private/metrics",
            &[("authorization", "Bearer nope")],
        )
        .await,
        unauthorized
    );
    let (status, content_type, body) =
        call(&app, "/private/metrics", &[("authorization", "Bearer t0k")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    assert_eq!(lines_of(&body, "axum_handler_"), EVENTS_TEXT, "{body}");
}
