//! A webhook receiver for Alertmanager that prints every alert it is sent: the stand-in
//! for a paging or chat system in `deploy/` and `scripts/stack`, so that an alert can be
//! seen end to end on one machine.
//!
//! ```text
//! cargo run -p obs-examples --example alert_receiver
//! ALERT_RECEIVER_ADDR=0.0.0.0:9095 ALERT_RECEIVER_TOKEN_FILE=/run/secrets/token \
//!     cargo run -p obs-examples --example alert_receiver
//! ```
//!
//! - `ALERT_RECEIVER_ADDR`: where it listens (default `127.0.0.1:9095`; port `0` picks a
//!   free one). It prints `alert receiver on http://ADDR` on standard error once listening.
//! - `ALERT_RECEIVER_TOKEN_FILE`: a file holding the bearer token Alertmanager sends
//!   (`http_config.authorization.credentials_file` in `alertmanager.yml`); a request
//!   without it is answered `401`. Unset: every request is accepted.
//!
//! Each alert of each notification (`POST /{receiver}`, Alertmanager's webhook format,
//! version 4) is printed as one JSON line on standard output: the path it was posted to
//! (the receiver, `page` or `ticket` in `deploy/`), its status, labels and annotations.
//! `GET /health` answers `200`; `alert_receiver --check-health` asks it (the container's
//! health check).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{get, post};
use serde_json::{Value, json};

/// The bearer token every request must carry, if one is configured.
struct Auth {
    token: Option<String>,
}

impl Auth {
    fn allows(&self, headers: &HeaderMap) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|given| given == token)
    }
}

/// One JSON line per alert of a notification.
fn alert_lines(receiver: &str, notification: &Value) -> Vec<String> {
    notification["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|alert| {
            json!({
                "receiver": receiver,
                "status": alert["status"],
                "labels": alert["labels"],
                "annotations": alert["annotations"],
                "startsAt": alert["startsAt"],
            })
            .to_string()
        })
        .collect()
}

async fn notify(
    State(auth): State<Arc<Auth>>,
    Path(receiver): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    if !auth.allows(&headers) {
        eprintln!("alert receiver: refused a notification without the bearer token");
        return StatusCode::UNAUTHORIZED;
    }
    let Ok(notification) = serde_json::from_slice::<Value>(&body) else {
        eprintln!("alert receiver: refused a body that is not JSON");
        return StatusCode::BAD_REQUEST;
    };
    for line in alert_lines(&receiver, &notification) {
        println!("{line}");
    }
    StatusCode::OK
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("alert receiver: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::var("ALERT_RECEIVER_ADDR").unwrap_or_else(|_| "127.0.0.1:9095".into());
    match std::env::args().nth(1).as_deref() {
        None => {}
        // The container's health check (no `curl` in the image).
        Some("--check-health") => return Ok(obs_examples::probe::check(&addr, "/health")?),
        Some(_) => return Err("usage: alert_receiver [--check-health]".into()),
    }
    let token = match std::env::var_os("ALERT_RECEIVER_TOKEN_FILE") {
        Some(path) => {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                format!(
                    "cannot read ALERT_RECEIVER_TOKEN_FILE={}: {e}",
                    path.to_string_lossy()
                )
            })?;
            Some(text.trim().to_owned())
        }
        None => None,
    };
    let app = Router::new()
        .route("/health", get(|| async { StatusCode::OK }))
        .route("/{receiver}", post(notify))
        .with_state(Arc::new(Auth { token }));
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e} (set ALERT_RECEIVER_ADDR)"))?;
    eprintln!("alert receiver on http://{}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(obs_examples::shutdown_signal())
        .await?;
    Ok(())
}
