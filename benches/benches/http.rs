//! One HTTP request through axum on 127.0.0.1, measured from a keep-alive client, and the
//! same request called in process: no layer, obs's `ObsLayer`, and `axum-prometheus` +
//! tower-http's `TraceLayer`, in one run; then again with each stack's access line on
//! (obs's JSON access log; tower-http's INFO response event through tracing-subscriber's
//! JSON formatter), every line written to a discarding writer.
//!
//! `cargo bench -p obs-benches --bench http`; results in the crate's README.

use std::hint::black_box;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use tracing_subscriber::layer::SubscriberExt as _;

async fn item(Path(id): Path<u64>) -> String {
    format!("item {id}")
}

fn router() -> Router {
    Router::new().route("/api/items/{id}", get(item))
}

/// Serves `app` on its own one-thread runtime whose thread has `dispatch` as its default
/// subscriber; returns the address.
fn serve(app: Router, dispatch: tracing::Dispatch) -> SocketAddr {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .on_thread_start(move || {
            // The worker thread lives as long as the benchmark: keep its default for good.
            std::mem::forget(tracing::dispatcher::set_default(&dispatch));
        })
        .build()
        .expect("runtime");
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    runtime.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    // The runtime serves until the process exits.
    std::mem::forget(runtime);
    addr
}

/// A keep-alive HTTP/1.1 client: one request, the whole response read.
struct Client {
    stream: BufReader<TcpStream>,
    line: String,
    body: Vec<u8>,
}

impl Client {
    fn new(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Self {
            stream: BufReader::new(stream),
            line: String::new(),
            body: Vec::new(),
        }
    }

    fn get(&mut self, path: &str) -> u16 {
        let request = format!("GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n");
        self.stream
            .get_mut()
            .write_all(request.as_bytes())
            .expect("send");
        self.line.clear();
        self.stream.read_line(&mut self.line).expect("status line");
        let status = self
            .line
            .get(9..12)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut length = 0;
        loop {
            self.line.clear();
            self.stream.read_line(&mut self.line).expect("header");
            let header = self.line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((k, v)) = header.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        self.body.resize(length, 0);
        self.stream.read_exact(&mut self.body).expect("body");
        status
    }
}

/// The subscriber under "no layer" and the peer stack: a registry with an `info` filter,
/// and with `access_log` tracing-subscriber's JSON lines to a discarding writer.
fn plain_subscriber(access_log: bool) -> tracing::Dispatch {
    let registry = tracing_subscriber::registry().with(tracing_subscriber::EnvFilter::new("info"));
    if access_log {
        tracing::Dispatch::new(
            registry.with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_writer(std::io::sink),
            ),
        )
    } else {
        tracing::Dispatch::new(registry)
    }
}

/// obs as `init()` sets it up without a collector: filter, trace layer (ids, sampling),
/// and with `access_log` its JSON lines to a discarding writer (the handler logs nothing,
/// so the lines are `ObsLayer`'s access lines).
/// Also returns the count of lines written.
fn obs_telemetry(access_log: bool) -> (obs_runtime::init::Telemetry, Arc<AtomicU64>) {
    let lines = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&lines);
    let telemetry = obs_runtime::init()
        .env(Vec::<(String, String)>::new())
        .metrics_addr(None)
        .logs(access_log)
        .log_writer(obs_runtime::log::LogWriter::new(move |line| {
            black_box(line);
            counted.fetch_add(1, Ordering::Relaxed);
        }))
        .build()
        .expect("obs");
    (telemetry, lines)
}

/// The peer pair: axum-prometheus and tower-http's `TraceLayer` with INFO spans, and with
/// `access_log` an INFO line per response. Must be called inside a Tokio runtime
/// (axum-prometheus spawns its upkeep task at construction).
fn peer_router(access_log: bool) -> Router {
    use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
    let on_response = if access_log {
        DefaultOnResponse::new().level(tracing::Level::INFO)
    } else {
        DefaultOnResponse::new()
    };
    router()
        .layer(axum_prometheus::PrometheusMetricLayer::new())
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(tracing::Level::INFO))
                .on_response(on_response),
        )
}

/// The three stacks: no layer, obs, the peer pair, each with the subscriber it runs under.
fn stacks(
    access_log: bool,
    obs: &obs_runtime::init::Telemetry,
    upkeep: &tokio::runtime::Runtime,
) -> [(&'static str, Router, tracing::Dispatch); 3] {
    let peer = {
        let _entered = upkeep.enter();
        peer_router(access_log)
    };
    [
        ("no_layer", router(), plain_subscriber(access_log)),
        (
            "obs_layer",
            router().layer(obs_runtime::axum::ObsLayer::new()),
            obs.dispatch.clone(),
        ),
        (
            "axum_prometheus_plus_tower_http_trace",
            peer,
            plain_subscriber(access_log),
        ),
    ]
}

fn http(c: &mut Criterion) {
    // axum-prometheus spawns its upkeep task at construction: give it a runtime.
    let upkeep = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    for access_log in [false, true] {
        let (telemetry, lines) = obs_telemetry(access_log);
        let suffix = if access_log { "_access_log" } else { "" };

        let mut g = c.benchmark_group(format!("http_request_loopback{suffix}"));
        for (name, app, dispatch) in stacks(access_log, &telemetry, &upkeep) {
            let mut client = Client::new(serve(app, dispatch));
            assert_eq!(client.get("/api/items/1"), 200);
            let mut i = 0u64;
            g.bench_function(name, |b| {
                b.iter(|| {
                    i += 1;
                    client.get(&format!("/api/items/{}", i % 1000))
                });
            });
        }
        g.finish();

        // The same three stacks called in process (no sockets): the router and layers
        // alone, each on a one-thread runtime with its subscriber as the thread's default.
        let mut g = c.benchmark_group(format!("http_request_in_process{suffix}"));
        for (name, app, dispatch) in stacks(access_log, &telemetry, &upkeep) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            tracing::dispatcher::with_default(&dispatch, || {
                if name == "obs_layer" {
                    // One request, one access line (when on), written in place.
                    let before = lines.load(Ordering::Relaxed);
                    let request = axum::http::Request::get("/api/items/1")
                        .body(axum::body::Body::empty())
                        .expect("request");
                    let response = runtime
                        .block_on(tower::ServiceExt::oneshot(app.clone(), request))
                        .expect("infallible");
                    assert_eq!(response.status(), 200);
                    let written = lines.load(Ordering::Relaxed) - before;
                    assert_eq!(written, u64::from(access_log));
                }
                let mut i = 0u64;
                g.bench_function(name, |b| {
                    b.iter(|| {
                        i += 1;
                        let request = axum::http::Request::get(format!("/api/items/{}", i % 1000))
                            .body(axum::body::Body::empty())
                            .expect("request");
                        let response = runtime
                            .block_on(tower::ServiceExt::oneshot(app.clone(), request))
                            .expect("infallible");
                        assert_eq!(response.status(), 200);
                        response
                    });
                });
            });
        }
        g.finish();
        drop(telemetry.guard);
    }
}

criterion_group!(benches, http);
criterion_main!(benches);
