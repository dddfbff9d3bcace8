//! Health checks: registered async checks with timeouts behind `/health/live` and
//! `/health/ready`, and the `app_health{component}` gauge.

use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::log::json_str;
use crate::metrics::{DynamicFamily, DynamicOptions, Gauge, Registry};

type CheckFn = dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync;

struct Check {
    name: String,
    timeout: Duration,
    run: Arc<CheckFn>,
}

/// The registered checks. Clones share them.
///
/// ```
/// use std::time::Duration;
/// use obs_runtime::axum::Health;
///
/// let health = Health::new();
/// health.register("database", Duration::from_millis(500), || async { Ok(()) });
/// health.register("cache", Duration::from_millis(100), || async {
///     Err("connection refused".to_owned())
/// });
/// let app: axum::Router = health.router();
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
/// let report = rt.block_on(health.check());
/// assert!(!report.ready);
/// assert_eq!(report.components[0].name, "cache");
/// assert_eq!(report.components[0].error.as_deref(), Some("connection refused"));
/// ```
#[derive(Clone)]
pub struct Health {
    checks: Arc<RwLock<Vec<Arc<Check>>>>,
    /// How long a report answers `/health/ready` before the checks run again.
    cache_ttl: Duration,
    /// Who sees the checks' error messages.
    details: ErrorDetails,
    cache: Arc<Mutex<Option<(Instant, HealthReport)>>>,
    /// Held while the checks run for the cache: concurrent probes wait for that one run
    /// instead of each running every check.
    refresh: Arc<tokio::sync::Mutex<()>>,
}

impl Default for Health {
    fn default() -> Self {
        Self {
            checks: Arc::default(),
            cache_ttl: DEFAULT_CACHE,
            details: ErrorDetails::Shown,
            cache: Arc::default(),
            refresh: Arc::default(),
        }
    }
}

/// How long a readiness report is reused by default: probes from several orchestrators
/// (and an attacker hammering the endpoint) do not run every check every time.
pub const DEFAULT_CACHE: Duration = Duration::from_secs(1);

/// Who sees the error messages of failed checks in `/health/ready` (they can name hosts,
/// ports or worse). Everyone always sees each component's `up`/`down` status.
#[derive(Clone, PartialEq, Eq)]
pub enum ErrorDetails {
    /// Everyone (the default).
    Shown,
    /// No one: the messages stay in `HealthReport` for your own logs.
    Hidden,
    /// Only requests with `Authorization: Bearer <token>` (compared in constant time).
    WithToken(String),
}

impl std::fmt::Debug for ErrorDetails {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Shown => f.write_str("Shown"),
            Self::Hidden => f.write_str("Hidden"),
            Self::WithToken(_) => f.write_str("WithToken([redacted])"),
        }
    }
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self
            .checks
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|c| c.name.clone())
            .collect();
        f.debug_struct("Health")
            .field("checks", &names)
            .field("cache_ttl", &self.cache_ttl)
            .field("details", &self.details)
            .finish_non_exhaustive()
    }
}

/// One component's state in a [`HealthReport`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComponentHealth {
    /// The check's name.
    pub name: String,
    /// Whether it passed within its timeout.
    pub healthy: bool,
    /// Why not.
    pub error: Option<String>,
    /// How long it took.
    pub latency: Duration,
}

/// The result of running every check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthReport {
    /// Every check passed.
    pub ready: bool,
    /// Per check, sorted by name.
    pub components: Vec<ComponentHealth>,
}

impl HealthReport {
    /// `{"status":"ready"|"not ready","components":{"db":{"status":"up","latency_ms":1.2},…}}`,
    /// with each failed check's `error`.
    pub fn to_json(&self) -> String {
        self.json(true)
    }

    /// As [`to_json`](Self::to_json), without the error messages.
    pub fn to_json_without_errors(&self) -> String {
        self.json(false)
    }

    fn json(&self, errors: bool) -> String {
        let mut out = String::new();
        out.push_str(if self.ready {
            "{\"status\":\"ready\",\"components\":{"
        } else {
            "{\"status\":\"not ready\",\"components\":{"
        });
        for (i, c) in self.components.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            json_str(&mut out, &c.name);
            let _ = write!(
                out,
                ":{{\"status\":\"{}\",\"latency_ms\":{:.3}",
                if c.healthy { "up" } else { "down" },
                c.latency.as_secs_f64() * 1000.0
            );
            if let Some(error) = c.error.as_ref().filter(|_| errors) {
                out.push_str(",\"error\":");
                json_str(&mut out, error);
            }
            out.push('}');
        }
        out.push_str("}}\n");
        out
    }
}

/// `app_health{component}`: 1 when the component's last check passed, else 0.
fn gauge() -> &'static DynamicFamily<Gauge, 1> {
    static FAMILY: OnceLock<Arc<DynamicFamily<Gauge, 1>>> = OnceLock::new();
    FAMILY.get_or_init(|| {
        Registry::global()
            .register_dynamic::<Gauge, 1>(
                DynamicOptions::new(
                    "app_health",
                    "Health of each component: 1 when its last check passed, else 0.",
                    ["component"],
                )
                .max_series(100),
                (),
            )
            .unwrap_or_else(|_| {
                // Taken only if a user registered the name first; keep a private family so
                // that checks still run.
                Registry::new()
                    .register_dynamic::<Gauge, 1>(
                        DynamicOptions::new("app_health", "Component health.", ["component"]),
                        (),
                    )
                    .unwrap_or_else(|e| unreachable!("a fresh registry accepts it: {e}"))
            })
    })
}

impl Health {
    /// No checks: always ready.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reuses a readiness report for `ttl` before running the checks again (default
    /// [`DEFAULT_CACHE`]; `Duration::ZERO` runs them on every probe).
    #[must_use]
    pub fn cache_for(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// Who sees failed checks' error messages in `/health/ready`.
    ///
    /// ```
    /// use obs_runtime::axum::{ErrorDetails, Health};
    ///
    /// let health = Health::new().error_details(ErrorDetails::WithToken("s3cret".into()));
    /// # let _ = health;
    /// ```
    #[must_use]
    pub fn error_details(mut self, details: ErrorDetails) -> Self {
        self.details = details;
        self
    }

    /// The readiness report `/health/ready` answers with: the last one while younger than
    /// the cache's time to live, else a fresh [`check`](Self::check).
    pub async fn report(&self) -> HealthReport {
        if self.cache_ttl.is_zero() {
            return self.check().await;
        }
        if let Some(report) = self.cached() {
            return report;
        }
        // One run at a time: probes arriving meanwhile take its report.
        let _refreshing = self.refresh.lock().await;
        if let Some(report) = self.cached() {
            return report;
        }
        let report = self.check().await;
        *self.cache.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((Instant::now(), report.clone()));
        report
    }

    fn cached(&self) -> Option<HealthReport> {
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .filter(|(at, _)| at.elapsed() < self.cache_ttl)
            .map(|(_, report)| report.clone())
    }

    /// Adds a check. It fails when it returns `Err`, or does not finish within `timeout`.
    /// A check registered again under the same name replaces the earlier one. The cached
    /// report is dropped.
    pub fn register<F, Fut>(&self, name: impl Into<String>, timeout: Duration, check: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        let name = name.into();
        gauge().with([name.as_str()]).set(0);
        let check = Arc::new(Check {
            name,
            timeout,
            run: Arc::new(move || Box::pin(check())),
        });
        let mut checks = self.checks.write().unwrap_or_else(PoisonError::into_inner);
        checks.retain(|c| c.name != check.name);
        checks.push(check);
        checks.sort_by(|a, b| a.name.cmp(&b.name));
        drop(checks);
        *self.cache.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Runs every check concurrently and updates `app_health`.
    pub async fn check(&self) -> HealthReport {
        let checks: Vec<Arc<Check>> = self
            .checks
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut set = tokio::task::JoinSet::new();
        for (i, check) in checks.iter().enumerate() {
            let check = Arc::clone(check);
            set.spawn(async move {
                let start = Instant::now();
                let result = tokio::time::timeout(check.timeout, (check.run)()).await;
                let error = match result {
                    Ok(Ok(())) => None,
                    Ok(Err(e)) => Some(e),
                    Err(_) => Some(format!("timed out after {:?}", check.timeout)),
                };
                (i, error, start.elapsed())
            });
        }
        let mut components: Vec<ComponentHealth> = checks
            .iter()
            .map(|c| ComponentHealth {
                name: c.name.clone(),
                healthy: false,
                error: Some("the check panicked".to_owned()),
                latency: Duration::ZERO,
            })
            .collect();
        while let Some(joined) = set.join_next().await {
            if let Ok((i, error, latency)) = joined {
                components[i].healthy = error.is_none();
                components[i].error = error;
                components[i].latency = latency;
            }
        }
        for c in &components {
            gauge().with([c.name.as_str()]).set(i64::from(c.healthy));
        }
        HealthReport {
            ready: components.iter().all(|c| c.healthy),
            components,
        }
    }

    /// `/health/live` (200 while the process serves) and `/health/ready` (200 with every
    /// component's state, 503 when a check fails; the report is cached for
    /// [`cache_for`](Self::cache_for), error messages shown as
    /// [`error_details`](Self::error_details) says).
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        let health = self.clone();
        Router::new()
            .route(
                "/health/live",
                get(|| async { json(StatusCode::OK, "{\"status\":\"alive\"}\n".to_owned()) }),
            )
            .route(
                "/health/ready",
                get(move |headers: axum::http::HeaderMap| {
                    let health = health.clone();
                    async move {
                        let report = health.report().await;
                        let status = if report.ready {
                            StatusCode::OK
                        } else {
                            StatusCode::SERVICE_UNAVAILABLE
                        };
                        let shown = match &health.details {
                            ErrorDetails::Shown => true,
                            ErrorDetails::Hidden => false,
                            ErrorDetails::WithToken(token) => crate::http::server::bearer_matches(
                                token,
                                headers
                                    .get(axum::http::header::AUTHORIZATION)
                                    .and_then(|v| v.to_str().ok()),
                            ),
                        };
                        let body = if shown {
                            report.to_json()
                        } else {
                            report.to_json_without_errors()
                        };
                        json(status, body)
                    }
                }),
            )
    }
}

fn json(status: StatusCode, body: String) -> Response {
    let mut response = (status, [(CONTENT_TYPE, "application/json")], body).into_response();
    // A probe: its successes are access-logged at debug.
    response.extensions_mut().insert(super::access::Routine);
    response
}
