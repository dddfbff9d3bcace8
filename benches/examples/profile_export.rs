//! Runs observed calls with span export on, for a profiler:
//! `valgrind --tool=callgrind target/release/examples/profile_export 200000`.

use std::hint::black_box;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;

use obs_runtime::observe;

#[observe]
#[inline(never)]
fn obs_call(x: u64) -> Result<u64, std::io::Error> {
    if x % 1000 == 999 {
        return Err(std::io::Error::other("odd"));
    }
    Ok(x / 2)
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(200_000);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut writer = stream.try_clone().expect("clone");
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            loop {
                let mut length = 0;
                line.clear();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let h = line.trim_end();
                    if h.is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.split_once(':')
                        && k.eq_ignore_ascii_case("content-length")
                    {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_err() {
                    break;
                }
                let _ = writer.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
            }
        }
    });
    let telemetry = obs_runtime::init()
        .env(Vec::<(String, String)>::new())
        .otlp_endpoint(format!("http://{addr}"))
        .metrics_addr(None)
        .logs(false)
        .build()
        .expect("pipeline");
    tracing::dispatcher::with_default(&telemetry.dispatch, || {
        for i in 0..n {
            let _ = black_box(obs_call(black_box(i * 2)));
        }
    });
    let stats = telemetry
        .guard
        .pipeline()
        .map(obs_runtime::trace::Pipeline::stats);
    eprintln!("{stats:?}");
}
