//! The Grafana dashboard (JSON model, schema version 39) from the catalogue.

pub use super::board::DashboardOptions;
use super::board::{Board, quantiles};
use super::model;
use super::panels::{database_row, family_panels, red_overview, slo_panels, use_row};

/// The dashboard as Grafana's JSON model: import it, or provision it from a file.
///
/// ```
/// use obs_runtime::dashboards::{DashboardOptions, grafana_dashboard};
///
/// let json = grafana_dashboard(&DashboardOptions::new("orders"));
/// assert!(json.contains("\"title\": \"orders (obs)\""));
/// assert!(json.contains("\"type\": \"timeseries\""));
/// ```
pub fn grafana_dashboard(options: &DashboardOptions) -> String {
    let mut b = Board::default();
    let job = "job=~\"$job\", instance=~\"$instance\"";
    red_overview(&mut b, job);
    let functions = model::functions();
    for f in &functions {
        b.row(&format!("{}::{}", f.module, f.function));
        let m = format!("{job}, {}", f.matchers());
        b.timeseries(
            "Calls by result",
            &[(
                format!("sum by (result) (rate(function_calls_total{{{m}}}[$__rate_interval]))"),
                "{{result}}",
            )],
            "reqps",
            false,
        );
        b.timeseries(
            "Errors by type",
            &[(
                format!(
                    "sum by (error) (rate(function_calls_total{{{m}, result=\"error\"}}[$__rate_interval]))"
                ),
                "{{error}}",
            )],
            "reqps",
            false,
        );
        b.timeseries(
            "Latency",
            &quantiles("function_calls_duration_seconds_bucket", &m, false),
            "s",
            true,
        );
    }
    if model::has_database() {
        database_row(&mut b, job);
    }
    let families = model::families();
    if !families.is_empty() {
        b.row("Declared metrics");
        for family in &families {
            family_panels(&mut b, family, job);
        }
    }
    use_row(&mut b, job);
    let slos = model::slos(&functions);
    if !slos.is_empty() {
        b.row("Service level objectives");
        for (slo, target) in &slos {
            slo_panels(&mut b, slo, target, job);
        }
    }
    b.finish(options)
}
