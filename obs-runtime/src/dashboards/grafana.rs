//! The Grafana dashboard (JSON model, schema version 39) from the catalogue.

use super::json::Json;
use super::model::{self, Family, Target, error_ratio, promql_escape};
use crate::metrics::{MetricKind, Slo};

/// Options of [`grafana_dashboard`].
///
/// ```
/// use obs_runtime::dashboards::DashboardOptions;
///
/// let options = DashboardOptions {
///     datasource_uid: Some("prometheus-main".into()),
///     ..DashboardOptions::new("orders")
/// };
/// assert_eq!(options.uid, "obs-orders");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DashboardOptions {
    /// The dashboard's title.
    pub title: String,
    /// Its stable uid (Grafana keeps one dashboard per uid).
    pub uid: String,
    /// The uid of the Prometheus datasource selected by default; `None` lets Grafana use
    /// its default Prometheus datasource.
    pub datasource_uid: Option<String>,
    /// The uid of the tracing datasource (Tempo, Jaeger) exemplars link to, if any.
    pub traces_datasource_uid: Option<String>,
}

impl DashboardOptions {
    /// The defaults for the service `service`: title `"<service> (obs)"`, uid
    /// `"obs-<service>"`.
    pub fn new(service: &str) -> Self {
        let uid: String = service
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .take(36)
            .collect();
        Self {
            title: format!("{service} (obs)"),
            uid: format!("obs-{uid}"),
            datasource_uid: None,
            traces_datasource_uid: None,
        }
    }
}

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
            slo_panels(&mut b, slo, target);
        }
    }
    b.finish(options)
}

/// Panels laid out three to a row of the 24-column grid, rows stacked below.
#[derive(Default)]
struct Board {
    panels: Vec<Json>,
    next_id: u32,
    /// The next free `y`, and the column of the next panel in the current row.
    y: u32,
    x: u32,
}

const WIDTH: u32 = 8;
const HEIGHT: u32 = 8;

impl Board {
    fn id(&mut self) -> u32 {
        self.next_id += 1;
        self.next_id
    }

    /// A collapsed-free row header starting a new line of panels.
    fn row(&mut self, title: &str) {
        if self.x > 0 {
            self.y += HEIGHT;
            self.x = 0;
        }
        let id = self.id();
        self.panels.push(Json::obj([
            ("id", Json::num(id)),
            ("type", Json::str("row")),
            ("title", Json::str(title)),
            ("collapsed", Json::Bool(false)),
            ("gridPos", grid(0, self.y, 24, 1)),
            ("panels", Json::Arr(Vec::new())),
        ]));
        self.y += 1;
    }

    fn place(&mut self) -> Json {
        if self.x + WIDTH > 24 {
            self.x = 0;
            self.y += HEIGHT;
        }
        let pos = grid(self.x, self.y, WIDTH, HEIGHT);
        self.x += WIDTH;
        pos
    }

    fn panel(&mut self, kind: &str, title: &str, targets: Vec<Json>, unit: &str) -> Json {
        let id = self.id();
        let pos = self.place();
        Json::obj([
            ("id", Json::num(id)),
            ("type", Json::str(kind)),
            ("title", Json::str(title)),
            ("datasource", datasource()),
            ("gridPos", pos),
            ("targets", Json::Arr(targets)),
            (
                "fieldConfig",
                Json::obj([
                    ("defaults", Json::obj([("unit", Json::str(unit))])),
                    ("overrides", Json::Arr(Vec::new())),
                ]),
            ),
        ])
    }

    /// A time series panel; `exemplars` shows exemplars (latency panels).
    fn timeseries(&mut self, title: &str, queries: &[(String, &str)], unit: &str, exemplars: bool) {
        let targets = targets(queries, exemplars, "time_series");
        let panel = self.panel("timeseries", title, targets, unit);
        self.panels.push(panel);
    }

    fn stat(&mut self, title: &str, query: String, unit: &str) {
        let targets = targets(&[(query, "")], false, "time_series");
        let panel = self.panel("stat", title, targets, unit);
        self.panels.push(panel);
    }

    fn finish(self, options: &DashboardOptions) -> String {
        let templating = vec![
            Json::obj([
                ("name", Json::str("datasource")),
                ("label", Json::str("Data source")),
                ("type", Json::str("datasource")),
                ("query", Json::str("prometheus")),
                (
                    "current",
                    match &options.datasource_uid {
                        Some(uid) => Json::obj([("value", Json::str(uid.clone()))]),
                        None => Json::Obj(Vec::new()),
                    },
                ),
            ]),
            variable("job", "label_values(up, job)"),
            variable("instance", "label_values(up{job=~\"$job\"}, instance)"),
        ];
        let mut links = Vec::new();
        if let Some(uid) = &options.traces_datasource_uid {
            links.push(Json::obj([
                ("title", Json::str("Traces")),
                ("type", Json::str("link")),
                (
                    "url",
                    Json::str(format!("/explore?left={{\"datasource\":\"{uid}\"}}")),
                ),
            ]));
        }
        Json::obj([
            ("uid", Json::str(options.uid.clone())),
            ("title", Json::str(options.title.clone())),
            (
                "tags",
                Json::Arr(vec![Json::str("obs"), Json::str("generated")]),
            ),
            ("timezone", Json::str("browser")),
            ("schemaVersion", Json::num(39)),
            ("version", Json::num(1)),
            ("editable", Json::Bool(true)),
            ("refresh", Json::str("30s")),
            (
                "time",
                Json::obj([("from", Json::str("now-1h")), ("to", Json::str("now"))]),
            ),
            ("templating", Json::obj([("list", Json::Arr(templating))])),
            ("links", Json::Arr(links)),
            ("annotations", Json::obj([("list", Json::Arr(Vec::new()))])),
            ("panels", Json::Arr(self.panels)),
        ])
        .render()
    }
}

fn grid(x: u32, y: u32, w: u32, h: u32) -> Json {
    Json::obj([
        ("x", Json::num(x)),
        ("y", Json::num(y)),
        ("w", Json::num(w)),
        ("h", Json::num(h)),
    ])
}

fn datasource() -> Json {
    Json::obj([
        ("type", Json::str("prometheus")),
        ("uid", Json::str("${datasource}")),
    ])
}

fn variable(name: &str, query: &str) -> Json {
    Json::obj([
        ("name", Json::str(name)),
        ("type", Json::str("query")),
        ("datasource", datasource()),
        (
            "query",
            Json::obj([("query", Json::str(query)), ("refId", Json::str(name))]),
        ),
        ("definition", Json::str(query)),
        ("refresh", Json::num(2)),
        ("includeAll", Json::Bool(true)),
        ("multi", Json::Bool(true)),
        ("allValue", Json::str(".*")),
        (
            "current",
            Json::obj([("text", Json::str("All")), ("value", Json::str("$__all"))]),
        ),
    ])
}

fn targets(queries: &[(String, &str)], exemplars: bool, format: &str) -> Vec<Json> {
    queries
        .iter()
        .enumerate()
        .map(|(i, (expr, legend))| {
            let ref_id = char::from(b'A' + u8::try_from(i % 26).unwrap_or(0)).to_string();
            Json::obj([
                ("refId", Json::str(ref_id)),
                ("datasource", datasource()),
                ("expr", Json::str(expr.clone())),
                ("legendFormat", Json::str(*legend)),
                ("exemplar", Json::Bool(exemplars)),
                ("format", Json::str(format)),
            ])
        })
        .collect()
}

/// p50, p95 and p99 of a histogram's `_bucket` series, per `endpoint` when `by_endpoint`.
fn quantiles(bucket: &str, matchers: &str, by_endpoint: bool) -> Vec<(String, &'static str)> {
    let group = if by_endpoint { "endpoint, le" } else { "le" };
    let levels: [(&str, &'static str, &'static str); 3] = [
        ("0.5", "p50", "p50 {{endpoint}}"),
        ("0.95", "p95", "p95 {{endpoint}}"),
        ("0.99", "p99", "p99 {{endpoint}}"),
    ];
    levels
        .iter()
        .map(|(q, plain, per_endpoint)| {
            (
                format!(
                    "histogram_quantile({q}, sum by ({group}) (rate({bucket}{{{matchers}}}[$__rate_interval])))"
                ),
                if by_endpoint { *per_endpoint } else { *plain },
            )
        })
        .collect()
}

fn red_overview(b: &mut Board, job: &str) {
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
                "sum by (endpoint) (rate(http_requests_total{{{job}, status_code=~\"5..\"}}[$__rate_interval])) / sum by (endpoint) (rate(http_requests_total{{{job}}}[$__rate_interval]))"
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
                "sum by (module, function) (rate(function_calls_total{{{job}, result=\"error\"}}[$__rate_interval])) / sum by (module, function) (rate(function_calls_total{{{job}}}[$__rate_interval]))"
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

fn family_panels(b: &mut Board, family: &Family, job: &str) {
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

fn use_row(b: &mut Board, job: &str) {
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

fn slo_panels(b: &mut Board, slo: &Slo, target: &Target) {
    let name = promql_escape(slo.name);
    let window = format!("{}d", slo.window_days);
    let budget = slo.error_budget();
    let ratio = error_ratio(slo, target, &window);
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
                format!("({}) / {budget}", error_ratio(slo, target, "1h")),
                "1h",
            ),
            (
                format!("({}) / {budget}", error_ratio(slo, target, "6h")),
                "6h",
            ),
        ],
        "short",
        false,
    );
}
