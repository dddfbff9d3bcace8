//! The HTTP transport against servers that are not what the endpoint promised.

use super::{excerpt, speaks_http2_only};

/// Whether the probe calls a server on 127.0.0.1 that greets a connection with
/// `greeting` (nothing: an HTTP/1.1 server) an HTTP/2-only server.
fn probe(greeting: &'static [u8]) -> bool {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url: http::Uri = format!("http://{}/v1/traces", listener.local_addr().unwrap())
            .parse()
            .unwrap();
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.expect("accept");
            stream.writable().await.expect("writable");
            stream.try_write(greeting).expect("write");
            // Held open until the probe gave up or read.
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            drop(stream);
        });
        let answer = speaks_http2_only(&url, std::time::Duration::from_secs(5)).await;
        server.abort();
        answer
    })
}

#[test]
fn a_server_that_greets_with_http2_settings_is_http2_only() {
    // An empty SETTINGS frame: length 0, type 4, flags 0, stream 0.
    assert!(probe(&[0, 0, 0, 4, 0, 0, 0, 0, 0]));
    // A silent server (HTTP/1.1 waits for the request), or other bytes, is not.
    assert!(!probe(b""));
    assert!(!probe(b"HTTP/1.1 400 Bad Request\r\n"));
}

/// What a `POST` to a server on 127.0.0.1 that greets every connection with an
/// HTTP/2 `SETTINGS` frame fails with, when the server answers the request with
/// `after_request` and then closes (or holds the connection open when `None`).
fn post_to_http2_server(after_request: Option<&'static [u8]>) -> String {
    use super::{Service, Transport};
    use crate::trace::{Protocol, TlsConfig};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    const SETTINGS: &[u8] = &[0, 0, 0, 4, 0, 0, 0, 0, 0];
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let endpoint = format!("http://{}/v1/traces", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await.expect("accept");
                tokio::spawn(async move {
                    let _ = stream.write_all(SETTINGS).await;
                    let mut request = [0u8; 1024];
                    if stream.read(&mut request).await.unwrap_or(0) > 0
                        && let Some(answer) = after_request
                    {
                        let _ = stream.write_all(answer).await;
                        return;
                    }
                    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
                });
            }
        });
        let transport = Transport::new(
            Protocol::HttpProtobuf,
            &endpoint,
            &[],
            std::time::Duration::from_secs(2),
            &TlsConfig::default(),
        )
        .expect("transport");
        let error = transport
            .send(vec![1, 2, 3], Service::Traces)
            .await
            .expect_err("an HTTP/2-only server cannot answer HTTP/1.1");
        server.abort();
        error.to_string()
    })
}

#[test]
fn an_http2_only_server_is_named_whatever_the_client_read_first() {
    // A GOAWAY frame (type 7) with a PROTOCOL_ERROR code, as a gRPC server sends.
    const GOAWAY: &[u8] = &[0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    for after_request in [None, Some(GOAWAY), Some(&[][..])] {
        let error = post_to_http2_server(after_request);
        assert!(
            error.starts_with("cannot send the OTLP request: the server speaks HTTP/2 only"),
            "{after_request:?}: {error}"
        );
    }
}

#[test]
fn body_excerpts_are_short_single_line_text() {
    assert_eq!(excerpt(b""), "");
    assert_eq!(excerpt(b"  \n"), "");
    assert_eq!(
        excerpt(b"queue full\nretry later"),
        ": queue full retry later"
    );
    let long = vec![b'x'; 300];
    assert_eq!(excerpt(&long), format!(": {}…", "x".repeat(256)));
}
