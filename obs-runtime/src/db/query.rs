//! One observed database operation: its CLIENT span with the OpenTelemetry database
//! conventions, its duration in `db_client_operation_duration_seconds`, and the slow-query
//! line; and the query handed on to sqlx unchanged.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_core::Stream;
use futures_core::future::BoxFuture;
use futures_core::stream::BoxStream;
use sqlx::error::BoxDynError;
use sqlx::{Database, Execute, SqlStr};
use tracing::Instrument as _;
use tracing::field::Empty;

use super::metrics::{Collection, DbSystem};
use super::sql::{Operation, sanitize, summarize};
use crate::metrics::Label as _;

/// How a pool's operations are observed.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) system: DbSystem,
    /// `server.address` and `server.port` of a network database.
    pub(crate) server: Option<(String, u16)>,
    /// Whether spans carry `db.query.text` (literals masked).
    pub(crate) query_text: bool,
    /// Operations at least this slow write a `warn` line.
    pub(crate) slow: Option<Duration>,
}

/// An operation under way; finished once, by its outcome or by being dropped.
pub(crate) struct Call {
    pub(crate) span: tracing::Span,
    start: Instant,
    operation: Operation,
    collection: Arc<Collection>,
    summary: String,
    slow: Option<Duration>,
    /// A stream that handed out rows and was then dropped ended well.
    yielded: bool,
    done: bool,
}

impl Call {
    /// Starts observing `sql`: a span that is a child of the current one.
    pub(crate) fn start(settings: &Settings, sql: &str) -> Self {
        let summary = summarize(sql);
        let text = summary.text();
        let span = tracing::info_span!(
            target: "obs::db",
            "db.query",
            otel.name = %text,
            otel.kind = "client",
            otel.status_code = Empty,
            db.system.name = settings.system.as_str(),
            db.operation.name = summary.operation.as_str(),
            db.collection.name = Empty,
            db.query.summary = %text,
            db.query.text = Empty,
            db.response.status_code = Empty,
            server.address = Empty,
            server.port = Empty,
            error.type = Empty,
        );
        if let Some(collection) = summary.collection {
            span.record("db.collection.name", collection);
        }
        if settings.query_text {
            span.record("db.query.text", sanitize(sql).as_str());
        }
        if let Some((host, port)) = &settings.server {
            span.record("server.address", host.as_str());
            span.record("server.port", port);
        }
        Self {
            collection: super::metrics::collection(
                settings.system,
                summary.collection.unwrap_or(""),
            ),
            operation: summary.operation,
            span,
            start: Instant::now(),
            summary: text,
            slow: settings.slow,
            yielded: false,
            done: false,
        }
    }

    /// Ends the operation: its span's status, its duration, a slow-query line.
    pub(crate) fn finish(mut self, error: Option<&sqlx::Error>) {
        self.record(error.map(|e| (error_type(e), database_code(e))).as_ref());
    }

    fn record(&mut self, error: Option<&(&'static str, Option<String>)>) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let elapsed = self.start.elapsed();
        let _entered = self.span.enter();
        let cells = self.collection.operation(self.operation);
        match error {
            None => cells.ok.observe(elapsed.as_secs_f64()),
            Some((kind, code)) => {
                self.span.record("otel.status_code", "ERROR");
                self.span.record("error.type", *kind);
                if let Some(code) = code {
                    self.span.record("db.response.status_code", code.as_str());
                }
                cells.error.observe(elapsed.as_secs_f64());
            }
        }
        if self.slow.is_some_and(|slow| elapsed >= slow) {
            #[allow(
                clippy::cast_precision_loss,
                reason = "durations below 2^53 µs are exact"
            )]
            let duration_ms = elapsed.as_micros() as f64 / 1e3;
            tracing::warn!(
                target: "obs::db",
                duration_ms,
                db.query.summary = %self.summary,
                "slow query: {} took {duration_ms:.1} ms",
                self.summary
            );
        }
    }
}

impl Drop for Call {
    /// Dropped before its outcome: a stream that handed out rows ended early on purpose
    /// (`.take(1)`), anything else was cancelled (a timeout around the call, a client gone).
    fn drop(&mut self) {
        if !self.done {
            let outcome = (!self.yielded).then_some(("cancelled", None));
            self.record(outcome.as_ref());
        }
    }
}

/// The OpenTelemetry `error.type` of a failed operation: the database's own code when it
/// gave one (SQLSTATE), else what failed.
fn error_type(e: &sqlx::Error) -> &'static str {
    match e {
        sqlx::Error::Database(_) => "database",
        sqlx::Error::PoolTimedOut => "pool_timeout",
        sqlx::Error::PoolClosed => "pool_closed",
        sqlx::Error::Io(_) => "io",
        sqlx::Error::Tls(_) => "tls",
        sqlx::Error::Protocol(_) => "protocol",
        sqlx::Error::RowNotFound => "row_not_found",
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => "decode",
        sqlx::Error::Encode(_) => "encode",
        sqlx::Error::Configuration(_) => "configuration",
        _ => "_OTHER",
    }
}

/// The database's error code (SQLSTATE for PostgreSQL, the extended code for SQLite).
fn database_code(e: &sqlx::Error) -> Option<String> {
    match e {
        sqlx::Error::Database(db) => db.code().map(std::borrow::Cow::into_owned),
        _ => None,
    }
}

pin_project_lite::pin_project! {
    /// A stream of sqlx results whose operation is finished when it ends or fails.
    pub(crate) struct Observed<S> {
        #[pin]
        inner: S,
        call: Option<Call>,
    }
}

impl<S> Observed<S> {
    pub(crate) fn new(inner: S, call: Call) -> Self {
        Self {
            inner,
            call: Some(call),
        }
    }
}

impl<S, T> Stream for Observed<S>
where
    S: Stream<Item = Result<T, sqlx::Error>>,
{
    type Item = Result<T, sqlx::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        let poll = {
            let _entered = this.call.as_ref().map(|c| c.span.enter());
            this.inner.poll_next(cx)
        };
        match &poll {
            Poll::Ready(Some(Ok(_))) => {
                if let Some(call) = this.call.as_mut() {
                    call.yielded = true;
                }
            }
            Poll::Ready(Some(Err(e))) => {
                if let Some(call) = this.call.take() {
                    call.finish(Some(e));
                }
            }
            Poll::Ready(None) => {
                if let Some(call) = this.call.take() {
                    call.finish(None);
                }
            }
            Poll::Pending => {}
        }
        poll
    }
}

/// A query taken apart to read its text, and put back together for sqlx: the same text,
/// prepared statement, arguments and persistence.
pub(crate) struct Rebuilt<DB: Database> {
    sql: SqlStr,
    statement: Option<DB::Statement>,
    arguments: Option<Result<Option<DB::Arguments>, BoxDynError>>,
    persistent: bool,
}

impl<DB: Database> Rebuilt<DB> {
    /// `query` rebuilt, and its text.
    pub(crate) fn take<'q, E: Execute<'q, DB>>(mut query: E) -> (Self, SqlStr) {
        let statement = query.statement().cloned();
        let arguments = query.take_arguments();
        let persistent = query.persistent();
        let sql = query.sql();
        (
            Self {
                sql: sql.clone(),
                statement,
                arguments: Some(arguments),
                persistent,
            },
            sql,
        )
    }
}

impl<DB: Database> Execute<'_, DB> for Rebuilt<DB> {
    fn sql(self) -> SqlStr {
        self.sql
    }

    fn statement(&self) -> Option<&DB::Statement> {
        self.statement.as_ref()
    }

    fn take_arguments(&mut self) -> Result<Option<DB::Arguments>, BoxDynError> {
        self.arguments.take().unwrap_or(Ok(None))
    }

    fn persistent(&self) -> bool {
        self.persistent
    }
}

/// Runs `query` as the stream `run` makes of it, observed as one operation.
pub(crate) fn observe_stream<'e, 'q, DB, E, T>(
    settings: &Settings,
    query: E,
    run: impl FnOnce(Rebuilt<DB>) -> BoxStream<'e, Result<T, sqlx::Error>>,
) -> BoxStream<'e, Result<T, sqlx::Error>>
where
    DB: Database,
    E: Execute<'q, DB>,
    T: 'e,
{
    let (query, sql) = Rebuilt::take(query);
    let call = Call::start(settings, sql.as_str());
    Box::pin(Observed::new(run(query), call))
}

/// Runs `query` as the future `run` makes of it, observed as one operation.
pub(crate) fn observe_future<'e, 'q, DB, E, T>(
    settings: &Settings,
    query: E,
    run: impl FnOnce(Rebuilt<DB>) -> BoxFuture<'e, Result<T, sqlx::Error>>,
) -> BoxFuture<'e, Result<T, sqlx::Error>>
where
    DB: Database,
    E: Execute<'q, DB>,
    T: Send + 'e,
{
    let (query, sql) = Rebuilt::take(query);
    let call = Call::start(settings, sql.as_str());
    let span = call.span.clone();
    let future = run(query);
    Box::pin(async move {
        let result = future.instrument(span).await;
        call.finish(result.as_ref().err());
        result
    })
}

/// Runs `operation` (`BEGIN`, `COMMIT`, …, given as its statement) observed.
pub(crate) async fn observe<T>(
    settings: &Settings,
    statement: &str,
    operation: impl Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, sqlx::Error> {
    let call = Call::start(settings, statement);
    let result = operation.instrument(call.span.clone()).await;
    call.finish(result.as_ref().err());
    result
}
