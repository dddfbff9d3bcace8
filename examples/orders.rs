//! The orders service, observed with obs. Runs on embedded defaults: no collector and no
//! Prometheus needed.
//!
//! ```text
//! cargo run -p obs-examples --example orders                 # http://127.0.0.1:8000
//! ORDERS_ADDR=127.0.0.1:9000 cargo run -p obs-examples --example orders
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 cargo run -p obs-examples --example orders
//! cargo run -p obs-examples --example loadgen                # drive it
//! cargo run -p obs-examples --example orders -- --emit-dashboards DIR
//!     # writes DIR/grafana.json and DIR/rules.yml, generated from the code, and exits
//! ```

use obs_examples::orders::{Store, app};
use obs_runtime::dashboards::{DashboardOptions, RuleOptions, grafana_dashboard, prometheus_rules};
use obs_runtime::tracing;

/// Writes the Grafana dashboard and the Prometheus rules of the service into `dir`.
fn emit_dashboards(dir: &str) -> Result<(), Box<dyn std::error::Error>> {
    // Building the router registers the per-route SLOs of its layer.
    drop(app(Store::new(), None));
    let dir = std::path::Path::new(dir);
    std::fs::create_dir_all(dir)?;
    let dashboard = dir.join("grafana.json");
    let rules = dir.join("rules.yml");
    std::fs::write(
        &dashboard,
        grafana_dashboard(&DashboardOptions::new("orders")),
    )?;
    std::fs::write(&rules, prometheus_rules(&RuleOptions::new("orders")))?;
    eprintln!("wrote {} and {}", dashboard.display(), rules.display());
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => {}
        [flag, dir] if flag == "--emit-dashboards" => return emit_dashboards(dir),
        _ => return Err("usage: orders [--emit-dashboards DIR]".into()),
    }
    let addr = std::env::var("ORDERS_ADDR").unwrap_or_else(|_| "127.0.0.1:8000".to_owned());
    let mut init = obs_runtime::init()
        .service_name("orders")
        .service_version(env!("CARGO_PKG_VERSION"))
        .tokio_runtime(tokio::runtime::Handle::current());
    if std::env::var_os("OBS_METRICS_ADDR").is_none() {
        // The service serves /metrics itself.
        init = init.metrics_addr(None);
    }
    let telemetry = init.install()?;
    let listener = tokio::net::TcpListener::bind(&addr).await.map_err(|e| {
        format!("cannot listen on {addr}: {e} (set ORDERS_ADDR to another address)")
    })?;
    let local = listener.local_addr()?;
    tracing::info!(addr = %local, setup = telemetry.summary(), "orders service listening");
    eprintln!(
        "\norders service on http://{local}\n\
         \x20 try:     curl -s -XPOST http://{local}/api/orders -H 'content-type: application/json' \\\n\
         \x20            -d '{{\"user_id\":1,\"items\":[{{\"sku\":\"A1\",\"quantity\":2,\"price\":19.5}}],\"payment_method\":\"card\"}}'\n\
         \x20          curl -s http://{local}/api/orders/1   curl -s http://{local}/api/users/7 (slow)\n\
         \x20 metrics: http://{local}/metrics   (OpenMetrics with exemplars: -H 'Accept: application/openmetrics-text')\n\
         \x20 health:  http://{local}/health/ready\n\
         \x20 traces:  {}\n\
         \x20 load:    ORDERS_URL=http://{local} cargo run -p obs-examples --example loadgen\n",
        telemetry.summary()
    );
    let token = std::env::var("OBS_METRICS_TOKEN").ok();
    axum::serve(listener, app(Store::new(), token))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    tracing::info!("orders service stopped");
    Ok(())
}
