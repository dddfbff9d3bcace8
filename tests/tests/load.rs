//! The orders service under a real load generator (`hey`, Debian package `hey`), as a
//! release binary on loopback:
//!
//! - every request is counted exactly (the service's counters equal `hey`'s counts per
//!   status), no response is an error obs caused, and the cost of obs is measured against
//!   the same service built without `ObsLayer` and `#[observe]` (feature `baseline`);
//! - the OTLP collector killed, hung and restarted under load: latency unchanged, memory
//!   bounded, every span exported or counted as dropped by reason, export resumes;
//! - 50 slow clients on the metrics endpoints under load: latency unchanged.
//!
//! Each phase runs `OBS_LOAD_SECS` seconds (default 4) and the cost comparison
//! `OBS_LOAD_ROUNDS` rounds (default 3). The tests measure latency, so they run one at a
//! time. The figures are printed (`--nocapture`) for RELIABILITY.md.

use std::cell::Cell;
use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use obs_tests::load::{self, Build, Hung, Load, LoadResult, RssSampler, Service};
use obs_tests::otlp::Receiver;
use obs_tests::{http_call, sample_in};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const ORDER: &str =
    r#"{"user_id":1,"items":[{"sku":"A1","quantity":1,"price":3.5}],"payment_method":"card"}"#;
const DECLINED: &str =
    r#"{"user_id":2,"items":[{"sku":"B2","quantity":1,"price":9000}],"payment_method":"paypal"}"#;

fn secs() -> Duration {
    Duration::from_secs(load::phase_secs(4))
}

/// Creates order 1, so that `GET /api/orders/1` answers `200`.
fn first_order(service: &Service) {
    let response = http_call(service.addr, "POST", "/api/orders", &[], Some(ORDER));
    assert_eq!(response.status, 201, "{}", response.body);
}

/// The value of a sample of `text`; 0 when absent.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    sample_in(text, name, labels).unwrap_or(0.0)
}

/// Asserts that `result` got only `status` and no transport errors.
fn only(result: &LoadResult, status: u16, what: &str) {
    assert_eq!(
        result.errors, 0,
        "{what}: requests without a response\n{}",
        result.report
    );
    assert_eq!(
        result.statuses.keys().copied().collect::<Vec<_>>(),
        [status],
        "{what}: unexpected statuses\n{}",
        result.report
    );
    assert!(result.responses() > 0, "{what}: no responses");
    // `hey` prints no 99th percentile below 100 responses: the latency checks need one.
    assert!(
        result.p99.is_finite() && result.p99 > 0.0 && result.p50 > 0.0,
        "{what}: no latency percentiles\n{}",
        result.report
    );
}

/// The median of `values`.
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    f64::midpoint(values[(n - 1) / 2], values[n / 2])
}

/// The request mix of the cost comparison, as fast as the service answers: orders placed
/// (`201`) and declined (`402`, after the 5 ms payment call), order lookups (`200`) and
/// unknown orders (`404`), user lookups (`200`, 2 ms).
fn mix() -> Vec<Load> {
    let load = |method, path, body, workers| Load {
        method,
        path,
        body,
        workers,
        qps_per_worker: None,
    };
    vec![
        load("POST", "/api/orders", Some(ORDER), 4),
        load("POST", "/api/orders", Some(DECLINED), 1),
        load("GET", "/api/orders/1", None, 6),
        load("GET", "/api/orders/0", None, 2),
        load("GET", "/api/users/1", None, 2),
    ]
}

/// What each stream of [`mix`] must get, with the series that counts it.
const MIX: [(u16, &str, &str, &str); 5] = [
    (201, "POST", "/api/orders", "placed"),
    (402, "POST", "/api/orders", "declined"),
    (200, "GET", "/api/orders/{id}", "order lookups"),
    (404, "GET", "/api/orders/{id}", "unknown orders"),
    (200, "GET", "/api/users/{id}", "user lookups"),
];

/// One run of [`mix`]: (responses per second over all streams, p99 of the order lookups,
/// p99 of the placed orders, peak RSS in KiB).
fn run_mix(build: Build) -> (f64, f64, f64, u64) {
    let service = Service::start(build, &[]);
    first_order(&service);
    let before = (build == Build::Observed).then(|| service.metrics());
    let rss = RssSampler::start(service.pid());
    let results = load::run(service.addr, &mix(), secs());
    let peak = rss.finish().into_iter().max().unwrap_or(0);
    for (result, (status, _, _, what)) in results.iter().zip(MIX) {
        only(result, status, what);
    }
    if let Some(before) = before {
        // Nothing lost: each stream's responses are counted exactly once, under its route
        // template and status, and in the business and function metrics.
        let after = service.metrics();
        let delta = |name: &str, labels: &[(&str, &str)]| {
            value(&after, name, labels) - value(&before, name, labels)
        };
        for (result, (status, method, route, what)) in results.iter().zip(MIX) {
            let code = status.to_string();
            assert_eq!(
                delta(
                    "http_requests_total",
                    &[
                        ("method", method),
                        ("endpoint", route),
                        ("status_code", &code)
                    ]
                ),
                result.responses() as f64,
                "{what}"
            );
        }
        let placed = results[0].responses() as f64;
        let declined = results[1].responses() as f64;
        let found = results[2].responses() as f64;
        let unknown = results[3].responses() as f64;
        let module = ("module", "obs_examples::orders");
        assert_eq!(
            delta(
                "orders_processed_total",
                &[("status", "success"), ("payment_method", "card")]
            ),
            placed
        );
        assert_eq!(
            delta(
                "orders_processed_total",
                &[("status", "failure"), ("payment_method", "paypal")]
            ),
            declined
        );
        let calls = |function, result, error| {
            delta(
                "function_calls_total",
                &[
                    ("function", function),
                    module,
                    ("result", result),
                    ("error", error),
                ],
            )
        };
        assert_eq!(calls("create_order", "ok", ""), placed);
        assert_eq!(calls("create_order", "error", "PaymentDeclined"), declined);
        assert_eq!(calls("load_order", "ok", ""), found);
        assert_eq!(calls("load_order", "error", "NotFound"), unknown);
        assert_eq!(calls("fetch_user", "ok", ""), results[4].responses() as f64);
        // No request of any route ended in a server error (a panic counts as `500`) or a
        // client abort (`499`) on the service's side.
        let failed: Vec<&str> = after
            .lines()
            .filter(|l| {
                l.starts_with("http_requests_total{")
                    && (l.contains("status_code=\"5") || l.contains("status_code=\"499\""))
            })
            .collect();
        assert!(failed.is_empty(), "{failed:?}");
    }
    let rps = results.iter().map(|r| r.rps).sum();
    (rps, results[2].p99, results[0].p99, peak)
}

#[test]
fn counts_are_exact_and_the_cost_of_obs_is_measured() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    // Built before any measurement.
    load::orders_binary(Build::Baseline);
    load::orders_binary(Build::Observed);
    let rounds: usize = std::env::var("OBS_LOAD_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(3);
    let (mut throughput, mut lookup_p99, mut order_p99) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds {
        // Alternating, so that a noisy neighbour hits both builds alike.
        let base = run_mix(Build::Baseline);
        let observed = run_mix(Build::Observed);
        eprintln!(
            "round {round}: baseline {:.0} req/s, p99 lookup {:.1} ms, p99 order {:.1} ms, \
             peak RSS {} KiB | observed {:.0} req/s, p99 lookup {:.1} ms, p99 order {:.1} ms, \
             peak RSS {} KiB",
            base.0,
            base.1 * 1e3,
            base.2 * 1e3,
            base.3,
            observed.0,
            observed.1 * 1e3,
            observed.2 * 1e3,
            observed.3
        );
        throughput.push(observed.0 / base.0);
        lookup_p99.push(observed.1 / base.1);
        order_p99.push(observed.2 / base.2);
    }
    let (throughput, lookup_p99, order_p99) = (
        median(&mut throughput),
        median(&mut lookup_p99),
        median(&mut order_p99),
    );
    eprintln!(
        "observed / baseline over {rounds} rounds (median): throughput {throughput:.2}, \
         p99 of order lookups {lookup_p99:.2}, p99 of placed orders {order_p99:.2}"
    );
    // A guard against a gross regression, not a benchmark (the benches crate measures
    // the per-call cost; single rounds here moved between 0.60 and 0.89): obs keeps more
    // than 40 % of the service's throughput at saturation, where every request is a
    // trivial in-memory lookup.
    assert!(throughput > 0.4, "throughput ratio {throughput:.2}");
}

/// The collector scenario's constant load: orders placed (100 per second, ten spans
/// each; an order holds the stock's write lock for its payment, 5 ms, so SQLite takes
/// under 200 a second), order lookups and user lookups (400 per second each, three spans
/// each).
fn steady() -> Vec<Load> {
    let load = |method, path, body, workers, qps| Load {
        method,
        path,
        body,
        workers,
        qps_per_worker: Some(qps),
    };
    vec![
        load("GET", "/api/users/1", None, 8, 50),
        load("POST", "/api/orders", Some(ORDER), 4, 25),
        load("GET", "/api/orders/1", None, 4, 100),
    ]
}

/// Spans one request of each [`steady`] stream finishes: the server span, the observed
/// functions and the queries: `fetch_user`, `SELECT users`; `create_order`, `validate`,
/// `BEGIN`, `reserve_stock`, `UPDATE stock`, `charge_payment`, `INSERT orders`,
/// `INSERT order_items`, `COMMIT`; `load_order`, `SELECT orders`.
const SPANS_PER_REQUEST: [u64; 3] = [3, 10, 3];

/// One phase of [`steady`]: the results, the spans they finished, and the RSS samples.
fn steady_phase(service: &Service, name: &str) -> (Vec<LoadResult>, u64, Vec<u64>) {
    let rss = RssSampler::start(service.pid());
    let results = load::run(service.addr, &steady(), secs());
    let samples = rss.finish();
    for (result, (status, what)) in results.iter().zip([
        (200, "user lookups"),
        (201, "orders"),
        (200, "order lookups"),
    ]) {
        only(result, status, &format!("{name}: {what}"));
    }
    let spans = spans_of(&results);
    (results, spans, samples)
}

/// Runs [`steady`] as phase `name`, and again (three runs at most) while its p99 of user
/// lookups is above `bound`: a noisy neighbour's burst passes, a slowdown that obs causes
/// stays. (The best p99, the spans finished, the RSS samples of every run, the runs.)
fn phase_within(service: &Service, name: &str, bound: f64) -> (f64, u64, Vec<u64>, usize) {
    let (mut best, mut spans, mut rss, mut runs) = (f64::INFINITY, 0, Vec::new(), 0);
    while runs < 3 && best > bound {
        let (results, n, samples) = steady_phase(service, name);
        best = best.min(results[0].p99);
        spans += n;
        rss.extend(samples);
        runs += 1;
    }
    (best, spans, rss, runs)
}

/// Within 10 % of `p99`, or 1 ms over it: the user lookups take a fraction of a
/// millisecond, and `hey` reports 0.1 ms steps.
fn ten_percent_over(p99: f64) -> f64 {
    (p99 * 1.10).max(p99 + 0.001)
}

/// Two seconds of [`steady`], not measured: connections opened, caches and allocator
/// warm, so that the first measured phase is not the slowest for that alone. The spans
/// it finished.
fn warm_up(service: &Service) -> u64 {
    spans_of(&load::run(service.addr, &steady(), Duration::from_secs(2)))
}

/// The spans the requests of `results` (of [`steady`]) finished.
fn spans_of(results: &[LoadResult]) -> u64 {
    results
        .iter()
        .zip(SPANS_PER_REQUEST)
        .map(|(r, n)| r.responses() * n)
        .sum()
}

/// The dropped-span counters of `text`: (queue full, export failed, others).
fn drops(text: &str) -> (f64, f64, f64) {
    let reason = |r| value(text, "obs_spans_dropped_total", &[("reason", r)]);
    (
        reason("queue_full"),
        reason("export_failed"),
        reason("sampled_out") + reason("tail_evicted"),
    )
}

#[test]
fn collector_killed_hung_and_restarted_under_load() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    load::orders_binary(Build::Observed);
    let receiver = Receiver::http();
    let collector = receiver.addr();
    let service = Service::start(
        Build::Observed,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.endpoint()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "1000"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    );
    first_order(&service);
    let warm = warm_up(&service);
    // Spans finished so far besides the load's: the startup's read of the stock, the
    // first order's ten, the warm-up's, and the server span of every scrape.
    let finished = Cell::new(1 + 10 + warm);
    let scrape = || {
        let text = service.metrics();
        finished.set(finished.get() + 1);
        text
    };

    let (healthy, spans, healthy_rss) = steady_phase(&service, "healthy");
    let mut total_spans = spans;
    let healthy_p99 = healthy[0].p99;
    let after_healthy = scrape();
    assert_eq!(
        drops(&after_healthy),
        (0.0, 0.0, 0.0),
        "drops with a healthy collector"
    );

    // Killed: connections refused. First every span finished so far has arrived (none was
    // dropped), so no export is in flight while the receiver stops, and what it received
    // is exactly what was exported.
    let deadline = Instant::now() + Duration::from_secs(10);
    while (receiver.span_count() as u64) < total_spans + finished.get() && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let first_received = receiver.span_count();
    assert_eq!(first_received as u64, total_spans + finished.get());
    receiver.stop();
    let bound = ten_percent_over(healthy_p99);
    let (killed, spans, killed_rss, killed_runs) = phase_within(&service, "killed", bound);
    total_spans += spans;
    let after_killed = scrape();
    let (_, failed_killed, _) = drops(&after_killed);
    assert!(
        failed_killed > 0.0,
        "no export failure counted while the collector was down"
    );

    // Hung: connections accepted, never answered; each export times out after 1 s.
    let hung_collector = Hung::start(collector);
    let (hung, spans, hung_rss, hung_runs) = phase_within(&service, "hung", bound);
    total_spans += spans;
    let after_hung = scrape();
    let held = hung_collector.stop();
    assert!(
        held > 0,
        "the exporter never connected to the hung collector"
    );
    let (full_hung, failed_hung, _) = drops(&after_hung);
    assert!(
        full_hung > 0.0 && failed_hung > failed_killed,
        "a hung collector must fill the queue and fail exports: {:?}",
        drops(&after_hung)
    );

    // Restarted on the same port: export resumes.
    let receiver = Receiver::http_on(collector);
    let (restarted, spans, restarted_rss, restarted_runs) =
        phase_within(&service, "restarted", bound);
    total_spans += spans;
    assert!(receiver.span_count() > 0, "export did not resume");
    // Once the queue has drained, every finished span was exported or counted as
    // dropped, and the collectors received exactly the exported ones.
    let deadline = Instant::now() + Duration::from_secs(20);
    let (text, expected) = loop {
        let expected = total_spans + finished.get();
        let text = scrape();
        let exported = value(&text, "obs_spans_exported_total", &[]);
        let (full, failed, other) = drops(&text);
        if exported + full + failed + other == expected as f64 || Instant::now() > deadline {
            break (text, expected);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let exported = value(&text, "obs_spans_exported_total", &[]);
    let (full, failed, other) = drops(&text);
    assert_eq!(other, 0.0);
    assert_eq!(exported + full + failed, expected as f64, "{text}");
    let arrived = first_received + receiver.span_count();
    assert_eq!(exported, arrived as f64);
    // Export keeps working: a further healthy phase drops nothing more.
    let (after, spans, _) = steady_phase(&service, "after");
    let settled = Instant::now() + Duration::from_secs(10);
    while receiver.span_count() + first_received < (exported as u64 + spans + 1) as usize
        && Instant::now() < settled
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    let last = scrape();
    assert_eq!(drops(&last), (full, failed, 0.0), "drops after recovery");
    assert_eq!(
        value(&last, "obs_spans_exported_total", &[]),
        exported + spans as f64 + 1.0,
        "the spans of the phase after recovery, and the scrape before it"
    );

    let peak = |s: &[u64]| s.iter().copied().max().unwrap_or(0);
    eprintln!(
        "p99 of user lookups: healthy {:.1} ms (after recovery {:.1} ms), killed {:.1} ms \
         ({killed_runs} runs), hung {:.1} ms ({hung_runs}), restarted {:.1} ms ({restarted_runs}); \
         peak RSS KiB: {} / {} / {} / {}; spans {expected}: exported {exported}, \
         dropped queue_full {full}, export_failed {failed}",
        healthy_p99 * 1e3,
        after[0].p99 * 1e3,
        killed * 1e3,
        hung * 1e3,
        restarted * 1e3,
        peak(&healthy_rss),
        peak(&killed_rss),
        peak(&hung_rss),
        peak(&restarted_rss),
    );
    // Latency: within 10 % (or a timer tick) of the healthy service's, measured before and
    // after the faults.
    let healthy = healthy_p99.max(after[0].p99);
    for (name, p99) in [("killed", killed), ("hung", hung), ("restarted", restarted)] {
        assert!(
            p99 <= ten_percent_over(healthy),
            "p99 with the collector {name}: {:.2} ms, healthy {:.2} ms",
            p99 * 1e3,
            healthy * 1e3
        );
    }
    // Memory: the queue is bounded, so a fault costs at most a few MiB.
    let limit = peak(&healthy_rss) + 16 * 1024;
    for (name, samples) in [
        ("killed", &killed_rss),
        ("hung", &hung_rss),
        ("restarted", &restarted_rss),
    ] {
        assert!(
            peak(samples) <= limit,
            "RSS with the collector {name}: {} KiB, healthy peak {} KiB",
            peak(samples),
            peak(&healthy_rss)
        );
    }
    drop(service);
}

/// A metrics client as slow as a scraper on a congested link can be: a 2 KiB receive
/// buffer, its request sent a byte every 40 ms, the response read 1 KiB every 80 ms
/// (few wake-ups, so that the harness itself adds little to the machine's noise).
/// Scrapes `path` at `addr` until `stop`; (complete expositions, connections cut).
fn slow_scraper(addr: SocketAddr, path: &'static str, stop: &AtomicBool) -> (u64, u64) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    let (mut complete, mut cut) = (0, 0);
    while !stop.load(Ordering::Relaxed) {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(2048).unwrap();
        let Ok(stream) = runtime.block_on(socket.connect(addr)) else {
            cut += 1;
            continue;
        };
        let mut stream = stream.into_std().unwrap();
        stream.set_nonblocking(false).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: obs\r\nConnection: close\r\n\r\n");
        let sent = request.bytes().all(|b| {
            std::thread::sleep(Duration::from_millis(40));
            stream.write_all(&[b]).is_ok()
        });
        let mut response = Vec::new();
        let mut buf = [0_u8; 1024];
        if sent {
            loop {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => response.extend_from_slice(&buf[..n]),
                }
                std::thread::sleep(Duration::from_millis(80));
            }
        }
        if is_complete(&String::from_utf8_lossy(&response)) {
            complete += 1;
        } else {
            cut += 1;
        }
    }
    (complete, cut)
}

/// Whether `response` is a whole `200` response (its body as long as its
/// `content-length`, or its chunks ended).
fn is_complete(response: &str) -> bool {
    let Some((head, body)) = response.split_once("\r\n\r\n") else {
        return false;
    };
    let length = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse::<usize>().ok())?
    });
    head.starts_with("HTTP/1.1 200")
        && match length {
            Some(n) => body.len() == n,
            None => body.ends_with("\r\n0\r\n\r\n"),
        }
}

/// A free loopback port (bound and released).
fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

#[test]
fn fifty_slow_scrapers_do_not_slow_requests() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    load::orders_binary(Build::Observed);
    let embedded = free_port();
    let service = Service::start(
        Build::Observed,
        &[("OBS_METRICS_ADDR", &embedded.to_string())],
    );
    first_order(&service);
    let _ = warm_up(&service);
    let mut figures = Vec::new();
    // The bound is looser than the collector test's 10 %: the 50 scraper threads run on
    // the same two cores as the service and `hey`, and their wake-ups alone moved the p99
    // by up to 60 % in some runs (on either target, so not the endpoint's doing).
    let bound = |p99: f64| (1.5 * p99).max(p99 + 0.001);
    for (name, addr) in [
        ("the service's /metrics route", service.addr),
        ("the embedded metrics server", embedded),
    ] {
        // Without, then with the slow scrapers; again (three pairs at most) while the
        // p99 with them is over the bound: a noisy neighbour's burst passes, a
        // slowdown that the scrapers cause stays.
        let mut pairs = Vec::new();
        while pairs.len() < 3
            && pairs
                .last()
                .is_none_or(|&(quiet, busy)| busy > bound(quiet))
        {
            let (quiet, _, _) = steady_phase(&service, "no scrapers");
            let busy = with_slow_scrapers(&service, name, addr);
            pairs.push((quiet[0].p99, busy));
        }
        let &(quiet, busy) = pairs.last().unwrap();
        figures.push(format!(
            "{name}: p99 {:.1} ms with 50 slow scrapers, {:.1} ms without ({} pairs)",
            busy * 1e3,
            quiet * 1e3,
            pairs.len()
        ));
        assert!(
            busy <= bound(quiet),
            "{name}: p99 with 50 slow scrapers over its bound: {pairs:?}"
        );
    }
    eprintln!("{}", figures.join("; "));
}

/// [`steady`] while 50 [`slow_scraper`]s and a prompt one scrape `addr`: the p99 of user
/// lookups. Every prompt scrape is answered `200` within 1 s.
fn with_slow_scrapers(service: &Service, name: &'static str, addr: SocketAddr) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let scrapers: Vec<_> = (0..50)
        .map(|_| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || slow_scraper(addr, "/metrics", &stop))
        })
        .collect();
    let prompt = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut slowest = Duration::ZERO;
            let mut answered = 0;
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let response = http_call(addr, "GET", "/metrics", &[], None);
                assert_eq!(response.status, 200, "{name}");
                slowest = slowest.max(started.elapsed());
                answered += 1;
                std::thread::sleep(Duration::from_millis(250));
            }
            (answered, slowest)
        })
    };
    // The scrapers connect and send their requests first.
    std::thread::sleep(Duration::from_secs(1));
    let (results, _, _) = steady_phase(service, name);
    stop.store(true, Ordering::Relaxed);
    let (complete, cut) = scrapers
        .into_iter()
        .map(|s| s.join().unwrap())
        .fold((0, 0), |(a, b), (c, d)| (a + c, b + d));
    let (answered, slowest) = prompt.join().unwrap();
    eprintln!(
        "{name}: slow scrapes complete {complete}, cut {cut}, prompt scrapes {answered} \
         (slowest {} ms)",
        slowest.as_millis()
    );
    assert!(
        complete >= 50,
        "{name}: {complete} slow scrapes complete, {cut} cut"
    );
    assert!(answered >= 4, "{name}: {answered} prompt scrapes");
    assert!(
        slowest < Duration::from_secs(1),
        "{name}: a prompt scrape took {slowest:?}"
    );
    results[0].p99
}
