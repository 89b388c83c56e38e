//! The agent's own `/metrics` endpoint on `metrics_listen`: a tiny HTTP/1.x server on tokio.
//! `GET /metrics` (or `HEAD`) answers the [`Telemetry`] text; any other path 404, any other
//! method 405. One request per connection (`Connection: close`), a request head of at most
//! 8 KiB read within 5 s, at most 16 connections served at once (more are closed at once).
//! Idle, it waits in `accept`: no CPU.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::telemetry::{CONTENT_TYPE, Telemetry};

const MAX_HEAD_BYTES: usize = 8 << 10;
const READ_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_CONNECTIONS: usize = 16;

/// The file beside the credential that names the bound address (`127.0.0.1:9464\n`).
pub const ADDR_FILE: &str = "metrics.addr";

/// Binds `addr`, logs the bound address and writes it to `<state_dir>/metrics.addr`.
pub(crate) async fn bind(addr: SocketAddr, state_dir: &Path) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tracing::info!(addr = %bound, "serving the agent's metrics on http://{bound}/metrics");
    crate::durable::write_atomic(&state_dir.join(ADDR_FILE), format!("{bound}\n").as_bytes())?;
    Ok((listener, bound))
}

/// Serves `/metrics` on `listener` until dropped or aborted.
pub(crate) async fn serve(listener: TcpListener, telemetry: Arc<Telemetry>) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections: JoinSet<()> = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of descriptors and the like: wait a little rather than spin.
                        tracing::warn!(error = %e, "metrics listener: accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let Ok(permit) = permits.clone().try_acquire_owned() else { continue };
                let telemetry = telemetry.clone();
                connections.spawn(async move {
                    let _ = tokio::time::timeout(READ_TIMEOUT, answer(stream, &telemetry)).await;
                    drop(permit);
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn answer(mut stream: TcpStream, telemetry: &Telemetry) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&chunk[..n]);
        if head.len() > MAX_HEAD_BYTES {
            return respond(&mut stream, "431 Request Header Fields Too Large", "text/plain", b"", true).await;
        }
    }
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    match (method, path) {
        ("GET" | "HEAD", "/metrics") => {
            let body = telemetry.encode();
            respond(&mut stream, "200 OK", CONTENT_TYPE, body.as_bytes(), method == "GET").await
        }
        ("GET" | "HEAD", _) => respond(&mut stream, "404 Not Found", "text/plain", b"see /metrics\n", true).await,
        _ => respond(&mut stream, "405 Method Not Allowed", "text/plain", b"", true).await,
    }
}

async fn respond(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &[u8],
    with_body: bool,
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    if with_body {
        stream.write_all(body).await?;
    }
    stream.shutdown().await
}

#[cfg(test)]
mod tests;
