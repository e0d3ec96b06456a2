//! A tiny HTTP/1.1 client over a TCP socket, for tests that run the binary
//! as a child process (no client crate needed for GETs and PUTs).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// One request with `Connection: close`: (status, body).
pub fn request(addr: &str, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    request_with(addr, method, path, &[], body).map(|(status, _, body)| (status, body))
}

/// One request with `headers` (a Content-Type among them replaces the JSON
/// default): (status, response head, body).
pub fn request_with(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Option<(u16, String, String)> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .ok()?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: {addr}\r\n"));
    }
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        head.push_str("Content-Type: application/json\r\n");
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    write!(stream, "{head}Content-Length: {}\r\n\r\n{body}", body.len()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_string()
    };
    Some((status, head.to_string(), body))
}

/// The body of a `Transfer-Encoding: chunked` response.
fn dechunk(mut rest: &str) -> Option<String> {
    let mut body = String::new();
    loop {
        let (size, after) = rest.split_once("\r\n")?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            return Some(body);
        }
        body.push_str(after.get(..size)?);
        rest = after.get(size + 2..)?;
    }
}

pub fn get(addr: &str, path: &str) -> Option<(u16, String)> {
    request(addr, "GET", path, "")
}

/// Opens a stream and reads until its response headers are in; the socket
/// stays open while the returned value lives.
pub fn open_stream(addr: &str, path: &str) -> Option<TcpStream> {
    open_stream_with(addr, path, &[])
}

/// As `open_stream`, sending `headers` too.
pub fn open_stream_with(addr: &str, path: &str, headers: &[(&str, &str)]) -> Option<TcpStream> {
    match open_stream_status(addr, path, headers) {
        Some((200, stream)) => Some(stream),
        _ => None,
    }
}

/// Opens a stream; its status once the response headers are in, and the
/// socket, open while the returned value lives.
pub fn open_stream_status(
    addr: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Option<(u16, TcpStream)> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n{extra}\r\n"
    )
    .ok()?;
    let mut seen = Vec::new();
    let mut byte = [0u8; 1];
    while !seen.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).ok()?;
        seen.push(byte[0]);
    }
    let status = String::from_utf8_lossy(&seen)
        .get(9..12)
        .and_then(|s| s.parse().ok())?;
    Some((status, stream))
}

/// A loopback port nobody listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
