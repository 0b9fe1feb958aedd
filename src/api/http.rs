//! The node's HTTP port: `/metrics` (Prometheus) and `/` (the status page), plus `/healthz`.
//!
//! A deliberately tiny HTTP/1.1 server on tokio: GET and HEAD only, one request per connection
//! (`Connection: close`), the request head bounded in size and time. That is all a Prometheus
//! scraper, a browser and a load balancer's probe need, and it keeps a full web framework out of
//! the binary. Each request is rendered from live state when it comes.

use crate::health::{Health, metrics, page};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

/// The largest request head accepted.
const MAX_HEAD: usize = 16 << 10;

/// How long a client may take to send its request head.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Binds the HTTP port.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves on `listener` until the returned task is aborted; over TLS when `tls` is given (the
/// node's certificate, no client certificate asked for: browsers and scrapers come as they are).
pub fn serve(listener: TcpListener, health: Health, tls: Option<TlsAcceptor>) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let health = health.clone();
                    let tls = tls.clone();
                    tokio::spawn(async move {
                        let _ = stream.set_nodelay(true);
                        let done = match tls {
                            None => handle(stream, &health).await,
                            Some(tls) => {
                                match tokio::time::timeout(READ_TIMEOUT, tls.accept(stream)).await {
                                    Ok(Ok(stream)) => handle(stream, &health).await,
                                    Ok(Err(e)) => Err(e),
                                    Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
                                }
                            }
                        };
                        if let Err(e) = done {
                            tracing::debug!("http: {e}");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!("http accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    })
}

/// The request line's method and path, once the whole head has arrived.
fn parse_head(buf: &[u8]) -> Option<(String, String)> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&buf[..end]).ok()?;
    let line = head.lines().next()?;
    let mut parts = line.split(' ');
    let method = parts.next()?.to_string();
    let target = parts.next()?;
    let path = target.split(['?', '#']).next().unwrap_or("/").to_string();
    Some((method, path))
}

async fn handle<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    health: &Health,
) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let head = tokio::time::timeout(READ_TIMEOUT, async {
        let mut chunk = [0u8; 2048];
        loop {
            if let Some(head) = parse_head(&buf) {
                return Ok::<_, std::io::Error>(Some(head));
            }
            if buf.len() > MAX_HEAD {
                return Ok(None);
            }
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(None);
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .unwrap_or(Ok(None))?;
    let Some((method, path)) = head else {
        return respond(&mut stream, "400 Bad Request", "text/plain", b"bad request\n", false)
            .await;
    };
    let head_only = method == "HEAD";
    if method != "GET" && !head_only {
        return respond(&mut stream, "405 Method Not Allowed", "text/plain", b"GET only\n", false)
            .await;
    }
    match path.as_str() {
        "/metrics" => {
            let body = metrics::render(health);
            let kind = "text/plain; version=0.0.4; charset=utf-8";
            respond(&mut stream, "200 OK", kind, body.as_bytes(), head_only).await
        }
        "/" | "/index.html" => {
            let body = page::render(health).await;
            respond(&mut stream, "200 OK", "text/html; charset=utf-8", body.as_bytes(), head_only)
                .await
        }
        "/healthz" => {
            let s = health.subscribe().borrow().clone();
            if s.serving {
                respond(&mut stream, "200 OK", "text/plain", b"serving\n", head_only).await
            } else {
                let body = format!("not serving: {}\n", s.reason);
                let status = "503 Service Unavailable";
                respond(&mut stream, status, "text/plain", body.as_bytes(), head_only).await
            }
        }
        _ => respond(&mut stream, "404 Not Found", "text/plain", b"not found\n", head_only).await,
    }
}

async fn respond<S: AsyncWrite + Unpin>(
    stream: &mut S,
    status: &str,
    kind: &str,
    body: &[u8],
    head_only: bool,
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    if !head_only {
        stream.write_all(body).await?;
    }
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_request_lines() {
        assert_eq!(parse_head(b"GET /metrics HTTP/1.1\r\nHost: x\r\n"), None, "head incomplete");
        assert_eq!(
            parse_head(b"GET /metrics?x=1 HTTP/1.1\r\nHost: x\r\n\r\n"),
            Some(("GET".into(), "/metrics".into()))
        );
        assert_eq!(parse_head(b"HEAD / HTTP/1.0\r\n\r\n"), Some(("HEAD".into(), "/".into())));
    }
}
