//! What a JSON log line costs the calling thread when standard output is a pipe nobody
//! reads: with the blocking writer the logging thread waits for the reader (the pipe's
//! 64 KiB fill up); with the non-blocking writer (`init()`'s default) it never waits, and
//! what the full queue drops is counted. Measured in a child process (this test binary,
//! re-run in child mode) whose stdout the parent holds unread.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use obs_runtime::log::{LogFormat, LogLayer, LogWriter};
use obs_runtime::tracing_subscriber::layer::SubscriberExt as _;

const LINES: u64 = 5_000;
const QUEUE: usize = 1_000;

/// The child: logs `LINES` lines of about 260 bytes and reports the time and the drops.
#[test]
fn child_writes_lines() {
    let Ok(mode) = std::env::var("OBS_LOG_PIPE_CHILD") else {
        return;
    };
    let writer = if mode == "blocking" {
        LogWriter::stdout()
    } else {
        LogWriter::non_blocking(LogWriter::stdout(), QUEUE)
    };
    let subscriber =
        obs_runtime::tracing_subscriber::registry().with(LogLayer::new(LogFormat::Json, writer));
    obs_runtime::tracing::subscriber::set_global_default(subscriber).unwrap();
    let payload = "x".repeat(200);
    let start = Instant::now();
    for i in 0..LINES {
        obs_runtime::tracing::info!(i, payload = %payload, "line");
    }
    let elapsed = start.elapsed();
    let dropped = obs_tests::global_sample("obs_log_lines_dropped_total", &[]).unwrap_or(0.0);
    eprintln!("RESULT {} {dropped}", elapsed.as_millis());
}

/// Runs the child in `mode` with its stdout unread until it reports (or `hold` passes);
/// returns (milliseconds spent logging, lines dropped).
fn run_child(mode: &str, hold: Duration) -> (u128, f64) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "child_writes_lines",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("OBS_LOG_PIPE_CHILD", mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("RESULT ") {
                let _ = tx.send(rest.to_owned());
            }
        }
    });
    let early = rx.recv_timeout(hold).ok();
    // Now read the pipe, so that the child can finish.
    let mut stdout = child.stdout.take().unwrap();
    let drain = std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = stdout.read_to_end(&mut sink);
    });
    let result = early.unwrap_or_else(|| rx.recv_timeout(Duration::from_secs(60)).unwrap());
    assert!(child.wait().unwrap().success());
    drain.join().unwrap();
    let (ms, dropped) = result.split_once(' ').unwrap();
    (ms.parse().unwrap(), dropped.parse().unwrap())
}

#[test]
fn a_slow_reader_blocks_the_blocking_writer_and_never_the_default() {
    if std::env::var_os("OBS_LOG_PIPE_CHILD").is_some() {
        return;
    }
    // Blocking: the 1.3 MB of lines cannot all fit in the pipe, so logging waits until the
    // parent starts reading, 2 s later.
    let (blocked_ms, blocked_drops) = run_child("blocking", Duration::from_secs(2));
    assert!(
        blocked_ms >= 1_900,
        "blocking writer took only {blocked_ms} ms"
    );
    assert_eq!(blocked_drops, 0.0);
    // Non-blocking: done long before anyone reads; the queue keeps `QUEUE` lines (plus
    // what the writer thread got into the pipe) and counts the rest as dropped.
    let (fast_ms, drops) = run_child("non-blocking", Duration::from_secs(2));
    eprintln!(
        "blocking: {blocked_ms} ms; non-blocking: {fast_ms} ms, {drops} of {LINES} lines dropped"
    );
    assert!(fast_ms < 1_000, "non-blocking writer took {fast_ms} ms");
    #[allow(clippy::cast_precision_loss, reason = "small counts")]
    let most = (LINES - QUEUE as u64) as f64;
    assert!(drops > 0.0 && drops <= most, "{drops} dropped");
}

/// At shutdown the guard writes the queued lines, then every later line is written in
/// place: a value dropped after the guard (declared before it) still gets its line out,
/// instead of leaving it in a queue the exiting process never drains.
#[test]
fn lines_logged_after_the_guard_are_written_in_place() {
    let (memory, log) = LogWriter::memory();
    let telemetry = obs_runtime::init()
        .env(Vec::<(String, String)>::new())
        .metrics_addr(None)
        .log_format(LogFormat::Json)
        .log_writer(LogWriter::non_blocking(memory, 64))
        .build()
        .unwrap();
    let dispatch = telemetry.dispatch.clone();
    tracing::dispatcher::with_default(&dispatch, || tracing::info!("before"));
    drop(telemetry);
    assert_eq!(log.lines().len(), 1, "flushed by the guard");
    tracing::dispatcher::with_default(&dispatch, || tracing::info!("after the guard"));
    // No flush, no wait: written by the logging thread itself.
    let lines = log.lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[1].contains("\"message\":\"after the guard\""),
        "{}",
        lines[1]
    );
}

/// The non-blocking writer's queue is bounded in bytes too: with the output stalled, huge
/// lines are dropped and counted long before the line count is reached.
#[test]
fn the_writer_queue_is_bounded_in_bytes() {
    let gate = std::sync::Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
    let wait = std::sync::Arc::clone(&gate);
    let stalled = LogWriter::new(move |_line| {
        let (open, cv) = &*wait;
        let mut open = open.lock().unwrap();
        while !*open {
            open = cv.wait(open).unwrap();
        }
    });
    let writer = LogWriter::non_blocking(stalled, 1000);
    let dropped = || obs_tests::global_sample("obs_log_lines_dropped_total", &[]).unwrap_or(0.0);
    let before = dropped();
    let huge = "x".repeat(obs_runtime::log::MAX_QUEUE_BYTES / 3);
    // A line's bytes count until it is written: three fill the bound (one of them held
    // by the stalled writer thread), the other three are dropped.
    for _ in 0..6 {
        writer.write(&huge);
    }
    assert_eq!(dropped() - before, 3.0);
    {
        let (open, cv) = &*gate;
        *open.lock().unwrap() = true;
        cv.notify_all();
    }
    assert!(writer.flush(Duration::from_secs(10)));
}
