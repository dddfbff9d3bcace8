//! The container health check of the example binaries: `GET` a path on the binary's own
//! listening address and succeed on `200`, so that an image needs no `curl`.

use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs as _};
use std::time::Duration;

/// `GET path` on `listen` (a `host:port` a server was told to bind; an unspecified IP
/// such as `0.0.0.0` is reached on loopback), within 2 s.
///
/// # Errors
///
/// When `listen` names no address, the connection fails or times out, or the answer is
/// not `200`; the message says which.
pub fn check(listen: &str, path: &str) -> Result<(), String> {
    let mut addr: SocketAddr = listen
        .to_socket_addrs()
        .map_err(|e| format!("{listen}: {e}"))?
        .next()
        .ok_or_else(|| format!("{listen} names no address"))?;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            Ipv4Addr::LOCALHOST.into()
        } else {
            Ipv6Addr::LOCALHOST.into()
        });
    }
    let url = format!("http://{addr}{path}");
    let fail = |e: std::io::Error| format!("{url}: {e}");
    let timeout = Duration::from_secs(2);
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(fail)?;
    stream.set_read_timeout(Some(timeout)).map_err(fail)?;
    stream.set_write_timeout(Some(timeout)).map_err(fail)?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(fail)?;
    let mut response = Vec::new();
    stream.take(4096).read_to_end(&mut response).map_err(fail)?;
    let response = String::from_utf8_lossy(&response);
    let status_line = response.lines().next().unwrap_or_default();
    if status_line.starts_with("HTTP/1.1 200 ") {
        Ok(())
    } else {
        Err(format!("{url} answered {status_line:?}"))
    }
}
