//! The panels: the RED overview, declared families by kind, the USE row and SLOs.

use super::board::{Board, quantiles, targets};
use super::model::{Family, Target, error_ratio, promql_escape};
use crate::metrics::{MetricKind, Slo};

pub(super) fn red_overview(b: &mut Board, job: &str) {
    b.row("HTTP routes (RED)");
    b.timeseries(
        "Request rate by route",
        &[(
            format!("sum by (endpoint) (rate(http_requests_total{{{job}}}[$__rate_interval]))"),
            "{{endpoint}}",
        )],
        "reqps",
        false,
    );
    b.timeseries(
        "5xx ratio by route",
        &[(
            format!(
                "(sum by (endpoint) (rate(http_requests_total{{{job}, status_code=~\"5..\"}}[$__rate_interval])) or 0 * sum by (endpoint) (rate(http_requests_total{{{job}}}[$__rate_interval]))) / sum by (endpoint) (rate(http_requests_total{{{job}}}[$__rate_interval]))"
            ),
            "{{endpoint}}",
        )],
        "percentunit",
        false,
    );
    b.timeseries(
        "Latency by route",
        &quantiles("http_request_duration_seconds_bucket", job, true),
        "s",
        true,
    );
    b.row_repeated("Route $endpoint", Some("endpoint"));
    let route = format!("{job}, endpoint=~\"$endpoint\"");
    b.timeseries(
        "Requests by status",
        &[(
            format!(
                "sum by (status_code) (rate(http_requests_total{{{route}}}[$__rate_interval]))"
            ),
            "{{status_code}}",
        )],
        "reqps",
        false,
    );
    b.timeseries(
        "Route 5xx ratio",
        &[(
            format!(
                "(sum(rate(http_requests_total{{{route}, status_code=~\"5..\"}}[$__rate_interval])) or 0 * sum(rate(http_requests_total{{{route}}}[$__rate_interval]))) / sum(rate(http_requests_total{{{route}}}[$__rate_interval]))"
            ),
            "5xx",
        )],
        "percentunit",
        false,
    );
    b.timeseries(
        "Route latency",
        &quantiles("http_request_duration_seconds_bucket", &route, false),
        "s",
        true,
    );
    b.row("Observed functions (RED)");
    b.timeseries(
        "Call rate by function",
        &[(
            format!(
                "sum by (module, function) (rate(function_calls_total{{{job}}}[$__rate_interval]))"
            ),
            "{{module}}::{{function}}",
        )],
        "reqps",
        false,
    );
    b.timeseries(
        "Error ratio by function",
        &[(
            format!(
                "(sum by (module, function) (rate(function_calls_total{{{job}, result=\"error\"}}[$__rate_interval])) or 0 * sum by (module, function) (rate(function_calls_total{{{job}}}[$__rate_interval]))) / sum by (module, function) (rate(function_calls_total{{{job}}}[$__rate_interval]))"
            ),
            "{{module}}::{{function}}",
        )],
        "percentunit",
        false,
    );
    b.timeseries(
        "p99 latency by function",
        &[(
            format!(
                "histogram_quantile(0.99, sum by (module, function, le) (rate(function_calls_duration_seconds_bucket{{{job}}}[$__rate_interval])))"
            ),
            "{{module}}::{{function}}",
        )],
        "s",
        true,
    );
}

/// A Grafana unit for a metric's unit, as a value (`gauge`) or a rate (`counter`).
fn unit(family: &Family, rate: bool) -> &'static str {
    match (family.unit.as_deref(), rate) {
        (Some("seconds"), false) => "s",
        (Some("bytes"), false) => "bytes",
        (Some("bytes"), true) => "Bps",
        (Some("ratio"), false) => "percentunit",
        (Some("celsius"), false) => "celsius",
        (_, true) => "ops",
        _ => "short",
    }
}

pub(super) fn family_panels(b: &mut Board, family: &Family, job: &str) {
    let name = &family.name;
    let title = if family.help.is_empty() {
        name.clone()
    } else {
        format!("{name}: {}", family.help)
    };
    match family.kind {
        MetricKind::Counter => {
            let total = format!("{}_total", name.trim_end_matches("_total"));
            b.timeseries(
                &title,
                &[(format!("rate({total}{{{job}}}[$__rate_interval])"), "")],
                unit(family, true),
                true,
            );
        }
        MetricKind::Gauge | MetricKind::Unknown => b.timeseries(
            &title,
            &[(format!("{name}{{{job}}}"), "")],
            unit(family, false),
            false,
        ),
        MetricKind::Histogram => {
            b.timeseries(
                &title,
                &quantiles(&format!("{name}_bucket"), job, false),
                unit(family, false),
                true,
            );
            let targets = targets(
                &[(
                    format!("sum by (le) (rate({name}_bucket{{{job}}}[$__rate_interval]))"),
                    "{{le}}",
                )],
                false,
                "heatmap",
            );
            let panel = b.panel(
                "heatmap",
                &format!("{name} (heatmap)"),
                targets,
                unit(family, false),
            );
            b.panels.push(panel);
        }
        MetricKind::Summary => b.timeseries(
            &title,
            &[(format!("{name}{{{job}, quantile!=\"\"}}"), "{{quantile}}")],
            unit(family, false),
            false,
        ),
        MetricKind::Info => {
            let targets = targets(&[(format!("{name}_info{{{job}}}"), "")], false, "table");
            let panel = b.panel("table", &title, targets, "short");
            b.panels.push(panel);
        }
    }
}

/// Database operations by operation and collection, and the pools' saturation.
pub(super) fn database_row(b: &mut Board, job: &str) {
    b.row("Database");
    let ops = "db_client_operation_duration_seconds";
    let by = "db_system, operation, collection";
    b.timeseries(
        "Operation rate",
        &[(
            format!("sum by ({by}) (rate({ops}_count{{{job}}}[$__rate_interval]))"),
            "{{operation}} {{collection}}",
        )],
        "ops",
        false,
    );
    b.timeseries(
        "Operation error ratio",
        &[(
            format!(
                "(sum by ({by}) (rate({ops}_count{{{job}, status=\"error\"}}[$__rate_interval])) or 0 * sum by ({by}) (rate({ops}_count{{{job}}}[$__rate_interval]))) / sum by ({by}) (rate({ops}_count{{{job}}}[$__rate_interval]))"
            ),
            "{{operation}} {{collection}}",
        )],
        "percentunit",
        false,
    );
    b.timeseries(
        "Operation p99",
        &[(
            format!(
                "histogram_quantile(0.99, sum by ({by}, le) (rate({ops}_bucket{{{job}}}[$__rate_interval])))"
            ),
            "{{operation}} {{collection}}",
        )],
        "s",
        true,
    );
    b.timeseries(
        "Pool usage",
        &[
            (
                format!(
                    "sum by (pool_name) (db_client_connection_usage{{{job}, state=\"used\"}}) / sum by (pool_name) (db_client_connection_max{{{job}}})"
                ),
                "{{pool_name}} used",
            ),
        ],
        "percentunit",
        false,
    );
    b.timeseries(
        "Pool waits",
        &[
            (
                format!(
                    "histogram_quantile(0.99, sum by (pool_name, le) (rate(db_client_connection_wait_time_seconds_bucket{{{job}}}[$__rate_interval])))"
                ),
                "{{pool_name}} p99 wait",
            ),
            (
                format!("sum by (pool_name) (db_client_connection_pending_requests{{{job}}})"),
                "{{pool_name}} waiting now",
            ),
            (
                format!(
                    "sum by (pool_name) (rate(db_client_connection_timeouts_total{{{job}}}[$__rate_interval]))"
                ),
                "{{pool_name}} timeouts/s",
            ),
        ],
        "short",
        false,
    );
}

pub(super) fn use_row(b: &mut Board, job: &str) {
    b.row("Saturation and obs itself (USE)");
    b.timeseries(
        "CPU",
        &[(
            format!("rate(process_cpu_seconds_total{{{job}}}[$__rate_interval])"),
            "{{instance}}",
        )],
        "percentunit",
        false,
    );
    b.timeseries(
        "Resident memory",
        &[(
            format!("process_resident_memory_bytes{{{job}}}"),
            "{{instance}}",
        )],
        "bytes",
        false,
    );
    b.timeseries(
        "Open file descriptors",
        &[
            (format!("process_open_fds{{{job}}}"), "open {{instance}}"),
            (format!("process_max_fds{{{job}}}"), "max {{instance}}"),
        ],
        "short",
        false,
    );
    b.timeseries(
        "Spans dropped by reason",
        &[(
            format!("sum by (reason) (rate(obs_spans_dropped_total{{{job}}}[$__rate_interval]))"),
            "{{reason}}",
        )],
        "ops",
        false,
    );
    b.timeseries(
        "Span export errors",
        &[(
            format!("sum(rate(obs_export_errors_total{{{job}}}[$__rate_interval]))"),
            "errors",
        )],
        "ops",
        false,
    );
    b.timeseries(
        "Label values folded into overflow",
        &[(
            format!("sum(rate(obs_cardinality_overflow_total{{{job}}}[$__rate_interval]))"),
            "overflow",
        )],
        "ops",
        false,
    );
}

pub(super) fn slo_panels(b: &mut Board, slo: &Slo, target: &Target, job: &str) {
    let name = promql_escape(slo.name);
    let window = format!("{}d", slo.window_days);
    let budget = slo.error_budget();
    let ratio = error_ratio(slo, target, job, &window);
    b.stat(
        &format!("SLO {name}: SLI over {window} ({slo})"),
        format!("1 - ({ratio})"),
        "percentunit",
    );
    b.stat(
        &format!("SLO {name}: error budget left"),
        format!("1 - ({ratio}) / {budget}"),
        "percentunit",
    );
    b.timeseries(
        &format!("SLO {name}: burn rate"),
        &[
            (
                format!("({}) / {budget}", error_ratio(slo, target, job, "1h")),
                "1h",
            ),
            (
                format!("({}) / {budget}", error_ratio(slo, target, job, "6h")),
                "6h",
            ),
        ],
        "short",
        false,
    );
}
