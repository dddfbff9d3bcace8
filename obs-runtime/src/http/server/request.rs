//! Reading a request head within a deadline, whatever the client sends.

use std::io::{self, BufRead, BufReader, Read};
use std::net::TcpStream;
use std::time::Instant;

/// A parsed request head: what the server looks at.
pub(super) struct Request {
    pub(super) method: String,
    pub(super) path: String,
    pub(super) accept: Option<String>,
    pub(super) authorization: Option<String>,
}

/// Why a request head was refused.
pub(super) enum BadRequest {
    /// Unparseable request line or header.
    Malformed,
    /// Longer than [`MAX_HEAD`].
    TooLarge,
    /// An HTTP version other than 1.0 and 1.1.
    Version,
    /// Not all there by the deadline.
    Timeout,
}

/// Reads from the stream until `deadline`, however the bytes trickle in: each read waits
/// at most for the time left.
pub(super) struct DeadlineReader<'a> {
    pub(super) stream: &'a TcpStream,
    pub(super) deadline: Instant,
}

impl Read for DeadlineReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.stream.set_read_timeout(Some(left))?;
        let mut stream = self.stream;
        stream.read(buf)
    }
}

/// Reads one line; `None` when it is not UTF-8. Adds its length to `total`.
pub(super) fn read_line(
    reader: &mut impl BufRead,
    line: &mut String,
    total: &mut usize,
) -> io::Result<Option<usize>> {
    line.clear();
    let n = match reader.read_line(line) {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::InvalidData => return Ok(None),
        Err(e) => return Err(e),
    };
    *total += n;
    Ok(Some(n))
}

pub(super) fn read_head(
    stream: &TcpStream,
    deadline: Instant,
) -> io::Result<Result<Request, BadRequest>> {
    match read_head_until(stream, deadline) {
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            ) =>
        {
            Ok(Err(BadRequest::Timeout))
        }
        other => other,
    }
}

pub(super) fn read_head_until(
    stream: &TcpStream,
    deadline: Instant,
) -> io::Result<Result<Request, BadRequest>> {
    let mut reader = BufReader::new(DeadlineReader { stream, deadline }.take(MAX_HEAD as u64 + 1));
    let mut line = String::new();
    let mut total = 0usize;
    let Some(n) = read_line(&mut reader, &mut line, &mut total)? else {
        return Ok(Err(BadRequest::Malformed));
    };
    if n == 0 || !line.ends_with('\n') {
        return Ok(Err(if total > MAX_HEAD {
            BadRequest::TooLarge
        } else {
            BadRequest::Malformed
        }));
    }
    let mut parts = line.trim_end().split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Ok(Err(BadRequest::Malformed));
    };
    if method.is_empty() || !target.starts_with('/') {
        return Ok(Err(BadRequest::Malformed));
    }
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        let well_formed = version.strip_prefix("HTTP/").is_some_and(|v| {
            let mut digits = v.split('.');
            matches!(
                (digits.next(), digits.next(), digits.next()),
                (Some(a), Some(b), None)
                    if !a.is_empty() && !b.is_empty()
                        && a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit())
            )
        });
        return Ok(Err(if well_formed {
            BadRequest::Version
        } else {
            BadRequest::Malformed
        }));
    }
    let mut request = Request {
        method: method.to_owned(),
        // The query string does not select anything here.
        path: target.split('?').next().unwrap_or("/").to_owned(),
        accept: None,
        authorization: None,
    };
    loop {
        let Some(n) = read_line(&mut reader, &mut line, &mut total)? else {
            return Ok(Err(BadRequest::Malformed));
        };
        if total > MAX_HEAD {
            return Ok(Err(BadRequest::TooLarge));
        }
        if n == 0 || !line.ends_with('\n') {
            return Ok(Err(BadRequest::Malformed));
        }
        let header = line.trim_end_matches(['\r', '\n']);
        if header.is_empty() {
            return Ok(Ok(request));
        }
        let Some((name, value)) = header.split_once(':') else {
            return Ok(Err(BadRequest::Malformed));
        };
        let value = value.trim().to_owned();
        if name.eq_ignore_ascii_case("accept") {
            request.accept = Some(value);
        } else if name.eq_ignore_ascii_case("authorization") {
            request.authorization = Some(value);
        }
    }
}

/// Largest request head (request line and headers) accepted, in bytes.
pub(super) const MAX_HEAD: usize = 16 * 1024;
