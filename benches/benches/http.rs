//! One HTTP request through axum on 127.0.0.1, measured from a keep-alive client: no layer,
//! obs's `ObsLayer`, and `axum-prometheus` + tower-http's `TraceLayer`, in one run.
//!
//! `cargo bench -p obs-benches --bench http`; results in the crate's README.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};

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

fn plain_subscriber() -> tracing::Dispatch {
    tracing::Dispatch::new(
        tracing_subscriber::registry().with(tracing_subscriber::EnvFilter::new("info")),
    )
}

fn http(c: &mut Criterion) {
    let plain = serve(router(), plain_subscriber());
    // obs as `init()` sets it up without a collector: filter, trace layer (ids, sampling),
    // no log lines (the handler logs nothing).
    let telemetry = obs_runtime::init()
        .env(Vec::<(String, String)>::new())
        .metrics_addr(None)
        .logs(false)
        .build()
        .expect("obs");
    let obs = serve(
        router().layer(obs_runtime::axum::ObsLayer::new()),
        telemetry.dispatch.clone(),
    );
    // axum-prometheus spawns its upkeep task at construction: give it a runtime.
    let upkeep = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (prometheus_layer, _handle) = {
        let _entered = upkeep.enter();
        axum_prometheus::PrometheusMetricLayer::pair()
    };
    let peer = serve(
        router().layer(prometheus_layer).layer(
            tower_http::trace::TraceLayer::new_for_http().make_span_with(
                tower_http::trace::DefaultMakeSpan::new().level(tracing::Level::INFO),
            ),
        ),
        plain_subscriber(),
    );

    let mut g = c.benchmark_group("http_request_loopback");
    for (name, addr) in [
        ("no_layer", plain),
        ("obs_layer", obs),
        ("axum_prometheus_plus_tower_http_trace", peer),
    ] {
        let mut client = Client::new(addr);
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

    // The same three stacks called in process (no sockets): the router and layers alone,
    // each on a one-thread runtime with its subscriber as the thread's default.
    let mut g = c.benchmark_group("http_request_in_process");
    let stacks = [
        ("no_layer", router(), plain_subscriber()),
        (
            "obs_layer",
            router().layer(obs_runtime::axum::ObsLayer::new()),
            telemetry.dispatch.clone(),
        ),
        (
            "axum_prometheus_plus_tower_http_trace",
            {
                let _entered = upkeep.enter();
                router()
                    .layer(axum_prometheus::PrometheusMetricLayer::new())
                    .layer(
                        tower_http::trace::TraceLayer::new_for_http().make_span_with(
                            tower_http::trace::DefaultMakeSpan::new().level(tracing::Level::INFO),
                        ),
                    )
            },
            plain_subscriber(),
        ),
    ];
    for (name, app, dispatch) in stacks {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        tracing::dispatcher::with_default(&dispatch, || {
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

criterion_group!(benches, http);
criterion_main!(benches);
