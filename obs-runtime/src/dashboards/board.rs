//! The dashboard's grid: panels three to a row, stable ids, the templating and the JSON
//! model around them.

use super::json::Json;

/// Options of [`grafana_dashboard`](super::grafana_dashboard).
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
    /// The Prometheus `job` selected when the dashboard opens (the scrape job the rules
    /// select, [`RuleOptions::job`](super::RuleOptions::job)); `None` selects every job.
    pub job: Option<String>,
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
            job: None,
        }
    }
}

/// Panels laid out three to a row of the 24-column grid, rows stacked below.
#[derive(Default)]
pub(super) struct Board {
    pub(super) panels: Vec<Json>,
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
    pub(super) fn row(&mut self, title: &str) {
        self.row_repeated(title, None);
    }

    /// A row Grafana repeats, with the panels below it, once per value of the template
    /// variable `repeat` (a row per route).
    pub(super) fn row_repeated(&mut self, title: &str, repeat: Option<&str>) {
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
        if let (Some(var), Some(Json::Obj(row))) = (repeat, self.panels.last_mut()) {
            row.push(("repeat".to_owned(), Json::str(var)));
        }
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

    pub(super) fn panel(
        &mut self,
        kind: &str,
        title: &str,
        targets: Vec<Json>,
        unit: &str,
    ) -> Json {
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
    pub(super) fn timeseries(
        &mut self,
        title: &str,
        queries: &[(String, &str)],
        unit: &str,
        exemplars: bool,
    ) {
        let targets = targets(queries, exemplars, "time_series");
        let panel = self.panel("timeseries", title, targets, unit);
        self.panels.push(panel);
    }

    pub(super) fn stat(&mut self, title: &str, query: String, unit: &str) {
        let targets = targets(&[(query, "")], false, "time_series");
        let panel = self.panel("stat", title, targets, unit);
        self.panels.push(panel);
    }

    pub(super) fn finish(self, options: &DashboardOptions) -> String {
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
            variable("job", "label_values(up, job)", options.job.as_deref()),
            variable(
                "instance",
                "label_values(up{job=~\"$job\"}, instance)",
                None,
            ),
            variable(
                "endpoint",
                "label_values(http_requests_total{job=~\"$job\"}, endpoint)",
                None,
            ),
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

/// A query variable; `selected` is its value when the dashboard opens (else all).
fn variable(name: &str, query: &str, selected: Option<&str>) -> Json {
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
            match selected {
                Some(value) => Json::obj([
                    ("text", Json::Arr(vec![Json::str(value)])),
                    ("value", Json::Arr(vec![Json::str(value)])),
                ]),
                None => Json::obj([("text", Json::str("All")), ("value", Json::str("$__all"))]),
            },
        ),
    ])
}

pub(super) fn targets(queries: &[(String, &str)], exemplars: bool, format: &str) -> Vec<Json> {
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
pub(super) fn quantiles(
    bucket: &str,
    matchers: &str,
    by_endpoint: bool,
) -> Vec<(String, &'static str)> {
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
