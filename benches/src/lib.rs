//! Shared fixtures of the benchmarks: label enums wide enough for the rendering benchmark,
//! the body and error type of the observed-call benchmarks, and an OTLP/HTTP sink.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};

use obs_runtime::{ErrorLabel, Label};

/// The observed-call benchmarks' error type.
#[derive(Debug, ErrorLabel)]
pub enum BenchError {
    /// The input was odd.
    Odd,
}

impl std::fmt::Display for BenchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("odd input")
    }
}

impl std::error::Error for BenchError {}

/// The body every instrumentation wraps: `Ok(x / 2)` for even input, an error for odd.
///
/// # Errors
///
/// [`BenchError::Odd`] for odd input.
#[inline(never)]
pub fn body(x: u64) -> Result<u64, BenchError> {
    if x % 2 == 1 {
        Err(BenchError::Odd)
    } else {
        Ok(x / 2)
    }
}

/// An OTLP/HTTP sink on 127.0.0.1: answers every request with an empty success and
/// discards the spans. Serves until the process exits.
///
/// # Panics
///
/// When no loopback port can be bound.
pub fn otlp_sink() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the sink");
    let addr = listener.local_addr().expect("sink address");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve_sink(stream));
        }
    });
    addr
}

fn serve_sink(stream: std::net::TcpStream) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0usize;
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let reply =
            b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
        if writer.write_all(reply).is_err() {
            return;
        }
    }
}

/// A label with 100 values (`v0` … `v99`), to build 10 000-series families.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Label, measured::FixedCardinalityLabel)]
pub enum Hundred {
    /// Value 0.
    V0,
    /// Value 1.
    V1,
    /// Value 2.
    V2,
    /// Value 3.
    V3,
    /// Value 4.
    V4,
    /// Value 5.
    V5,
    /// Value 6.
    V6,
    /// Value 7.
    V7,
    /// Value 8.
    V8,
    /// Value 9.
    V9,
    /// Value 10.
    V10,
    /// Value 11.
    V11,
    /// Value 12.
    V12,
    /// Value 13.
    V13,
    /// Value 14.
    V14,
    /// Value 15.
    V15,
    /// Value 16.
    V16,
    /// Value 17.
    V17,
    /// Value 18.
    V18,
    /// Value 19.
    V19,
    /// Value 20.
    V20,
    /// Value 21.
    V21,
    /// Value 22.
    V22,
    /// Value 23.
    V23,
    /// Value 24.
    V24,
    /// Value 25.
    V25,
    /// Value 26.
    V26,
    /// Value 27.
    V27,
    /// Value 28.
    V28,
    /// Value 29.
    V29,
    /// Value 30.
    V30,
    /// Value 31.
    V31,
    /// Value 32.
    V32,
    /// Value 33.
    V33,
    /// Value 34.
    V34,
    /// Value 35.
    V35,
    /// Value 36.
    V36,
    /// Value 37.
    V37,
    /// Value 38.
    V38,
    /// Value 39.
    V39,
    /// Value 40.
    V40,
    /// Value 41.
    V41,
    /// Value 42.
    V42,
    /// Value 43.
    V43,
    /// Value 44.
    V44,
    /// Value 45.
    V45,
    /// Value 46.
    V46,
    /// Value 47.
    V47,
    /// Value 48.
    V48,
    /// Value 49.
    V49,
    /// Value 50.
    V50,
    /// Value 51.
    V51,
    /// Value 52.
    V52,
    /// Value 53.
    V53,
    /// Value 54.
    V54,
    /// Value 55.
    V55,
    /// Value 56.
    V56,
    /// Value 57.
    V57,
    /// Value 58.
    V58,
    /// Value 59.
    V59,
    /// Value 60.
    V60,
    /// Value 61.
    V61,
    /// Value 62.
    V62,
    /// Value 63.
    V63,
    /// Value 64.
    V64,
    /// Value 65.
    V65,
    /// Value 66.
    V66,
    /// Value 67.
    V67,
    /// Value 68.
    V68,
    /// Value 69.
    V69,
    /// Value 70.
    V70,
    /// Value 71.
    V71,
    /// Value 72.
    V72,
    /// Value 73.
    V73,
    /// Value 74.
    V74,
    /// Value 75.
    V75,
    /// Value 76.
    V76,
    /// Value 77.
    V77,
    /// Value 78.
    V78,
    /// Value 79.
    V79,
    /// Value 80.
    V80,
    /// Value 81.
    V81,
    /// Value 82.
    V82,
    /// Value 83.
    V83,
    /// Value 84.
    V84,
    /// Value 85.
    V85,
    /// Value 86.
    V86,
    /// Value 87.
    V87,
    /// Value 88.
    V88,
    /// Value 89.
    V89,
    /// Value 90.
    V90,
    /// Value 91.
    V91,
    /// Value 92.
    V92,
    /// Value 93.
    V93,
    /// Value 94.
    V94,
    /// Value 95.
    V95,
    /// Value 96.
    V96,
    /// Value 97.
    V97,
    /// Value 98.
    V98,
    /// Value 99.
    V99,
}

/// The 100 values of [`Hundred`], in order.
pub fn hundred() -> impl Iterator<Item = Hundred> {
    (0..Hundred::CARDINALITY).filter_map(Hundred::from_index)
}
