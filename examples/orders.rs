//! The orders service, observed with obs. Runs on embedded defaults: no collector, no
//! Prometheus and no database server needed (SQLite in memory).
//!
//! ```text
//! cargo run -p obs-examples --example orders                 # http://127.0.0.1:8000
//! DATABASE_URL=sqlite://orders.db cargo run -p obs-examples --example orders
//!     # orders kept in a file (created when missing), there after a restart
//! DATABASE_URL=postgres://orders:secret@127.0.0.1:5432/orders cargo run -p obs-examples --example orders
//! DATABASE_URL=postgres://orders@db/orders DATABASE_PASSWORD_FILE=/run/secrets/db orders
//!     # the password read from a file, kept out of the environment
//! ORDERS_ADDR=127.0.0.1:9000 cargo run -p obs-examples --example orders
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 cargo run -p obs-examples --example orders
//! cargo run -p obs-examples --example loadgen                # drive it
//! cargo run -p obs-examples --example orders -- --emit-dashboards deploy
//!     # writes deploy/prometheus/rules.yml and deploy/grafana/dashboards/orders.json,
//!     # generated from the code, and exits (`--slo-window-scale 0.0167` after it shortens
//!     # the SLO windows, 1 h to 1 min, to watch a burn-rate alert fire)
//! orders --check-health                                      # GET /health/live, exit 0 if 200
//! ```

use std::path::Path;

use obs_examples::orders::store::StoreOptions;
use obs_examples::orders::{Store, app, dashboard_options, rule_options};
use obs_runtime::dashboards::{grafana_dashboard, prometheus_rules};
use obs_runtime::tracing;

const USAGE: &str = "usage: orders [--emit-dashboards DIR [--slo-window-scale F] | --check-health]";

/// The address the service listens on: `ORDERS_ADDR`, else 127.0.0.1:8000.
fn listen_addr() -> String {
    std::env::var("ORDERS_ADDR").unwrap_or_else(|_| "127.0.0.1:8000".to_owned())
}

/// Writes the Prometheus rules and the Grafana dashboard of the service where `deploy/`
/// keeps them: `DIR/prometheus/rules.yml` and `DIR/grafana/dashboards/orders.json`.
async fn emit_dashboards(dir: &Path, window_scale: f64) -> Result<(), Box<dyn std::error::Error>> {
    // Building the router registers the per-route SLOs of its layer, and its pool the
    // database metrics the dashboard and rules are generated for.
    let store = Store::in_memory().await;
    drop(app(std::sync::Arc::clone(&store), None));
    let rules = dir.join("prometheus").join("rules.yml");
    let dashboard = dir.join("grafana").join("dashboards").join("orders.json");
    for file in [&rules, &dashboard] {
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)?;
        }
    }
    std::fs::write(&rules, prometheus_rules(&rule_options(window_scale)))?;
    std::fs::write(&dashboard, grafana_dashboard(&dashboard_options()))?;
    eprintln!("wrote {} and {}", rules.display(), dashboard.display());
    Ok(())
}

/// obs, set up from the environment.
#[cfg(not(feature = "peer"))]
fn install() -> Result<obs_runtime::init::Guard, Box<dyn std::error::Error>> {
    let mut init = obs_runtime::init()
        .service_name("orders")
        .service_version(env!("CARGO_PKG_VERSION"))
        // The ids of the observed functions' spans follow to the lines written inside.
        .log_span_fields(["user_id", "order_id"])
        .tokio_runtime(tokio::runtime::Handle::current());
    if std::env::var_os("OBS_METRICS_ADDR").is_none() {
        // The service serves /metrics itself.
        init = init.metrics_addr(None);
    }
    Ok(init.install()?)
}

/// The usual stack instead of obs (feature `peer`).
#[cfg(feature = "peer")]
fn install() -> Result<Peer, Box<dyn std::error::Error>> {
    Ok(Peer(obs_examples::orders::peer::install()?))
}

/// The peer stack, with a summary as obs's guard has.
#[cfg(feature = "peer")]
struct Peer(obs_examples::orders::peer::PeerTelemetry);

#[cfg(feature = "peer")]
impl Peer {
    fn summary(&self) -> &str {
        &self.0.summary
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("orders: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => {}
        // The container's health check (no `curl` in the image).
        [flag] if flag == "--check-health" => {
            return Ok(obs_examples::probe::check(&listen_addr(), "/health/live")?);
        }
        [flag, dir] if flag == "--emit-dashboards" => {
            return emit_dashboards(dir.as_ref(), 1.0).await;
        }
        [flag, dir, scale_flag, scale]
            if flag == "--emit-dashboards" && scale_flag == "--slo-window-scale" =>
        {
            let scale: f64 = scale
                .parse()
                .ok()
                .filter(|s: &f64| *s > 0.0 && *s <= 1.0)
                .ok_or_else(|| {
                    format!("--slo-window-scale {scale}: expected a number in (0, 1]")
                })?;
            return emit_dashboards(dir.as_ref(), scale).await;
        }
        _ => return Err(USAGE.into()),
    }
    let addr = listen_addr();
    let telemetry = install()?;
    // The database first: a service that cannot reach it does not start.
    let options = StoreOptions::from_env()?;
    let store = Store::connect(&options).await?;
    tracing::info!(
        database = %obs_examples::orders::store::redacted(&options.url),
        "database ready"
    );
    let listener = tokio::net::TcpListener::bind(&addr).await.map_err(|e| {
        format!("cannot listen on {addr}: {e} (set ORDERS_ADDR to another address)")
    })?;
    let local = listener.local_addr()?;
    let summary = telemetry.summary().to_owned();
    tracing::info!(addr = %local, setup = summary, "orders service listening");
    eprintln!(
        "\norders service on http://{local}\n\
         \x20 try:     curl -s -XPOST http://{local}/api/orders -H 'content-type: application/json' \\\n\
         \x20            -d '{{\"user_id\":1,\"items\":[{{\"sku\":\"A1\",\"quantity\":2,\"price\":19.5}}],\"payment_method\":\"card\"}}'\n\
         \x20          curl -s http://{local}/api/orders/1   curl -s http://{local}/api/users/7 (slow)\n\
         \x20 metrics: http://{local}/metrics   (OpenMetrics with exemplars: -H 'Accept: application/openmetrics-text')\n\
         \x20 health:  http://{local}/health/ready\n\
         \x20 traces:  {summary}\n\
         \x20 load:    ORDERS_URL=http://{local} cargo run -p obs-examples --example loadgen\n"
    );
    let token = std::env::var("OBS_METRICS_TOKEN").ok();
    // With the connection's address, every line of a request says which client sent it.
    let service = app(store, token).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(obs_examples::shutdown_signal())
        .await?;
    tracing::info!("orders service stopped");
    Ok(())
}
