//! A tiny HTTP server for tests, on 127.0.0.1 port 0: `/ok*` answers 200, `/bad*` 500,
//! `/moved` 302, `/metrics` a constant counter `app_requests_total`, `/missing` 404, `/slow`
//! never answers; it counts the requests it saw. [`ControlPlane`] is a fake sluice server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub(crate) struct TestServer {
    pub(crate) addr: SocketAddr,
    pub(crate) seen: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    pub(crate) async fn start() -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(AtomicU64::new(0));
        let counter = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else { continue };
                let counter = counter.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut chunk = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&chunk[..n]),
                        }
                    }
                    counter.fetch_add(1, Ordering::SeqCst);
                    let line = String::from_utf8_lossy(&head).lines().next().unwrap_or("").to_string();
                    let path = line.split(' ').nth(1).unwrap_or("");
                    let status = match path {
                        p if p.starts_with("/ok") => "200 OK",
                        p if p.starts_with("/bad") => "500 Internal Server Error",
                        "/moved" => "302 Found\r\nLocation: /ok",
                        "/metrics" => {
                            let body = "# TYPE app_requests counter\napp_requests_total 5\n";
                            let resp = format!(
                                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                                body.len()
                            );
                            let _ = stream.write_all(resp.as_bytes()).await;
                            return;
                        }
                        "/slow" => {
                            std::future::pending::<()>().await;
                            return;
                        }
                        _ => "404 Not Found",
                    };
                    let body = "hello\n";
                    let resp = format!(
                        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(resp.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        TestServer { addr, seen, task }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// A URL on a port where nothing listens.
pub(crate) async fn refused_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/ok")
}

/// Waits (bounded: 10 s) until `done` holds, checking every few milliseconds.
pub(crate) async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// A fake sluice server: enrolls anyone, desired state with no service (a long-poll with
/// `after` never answers), and keeps every report.
pub(crate) struct ControlPlane {
    pub(crate) addr: SocketAddr,
    pub(crate) reports: Arc<std::sync::Mutex<Vec<sluice_api::Report>>>,
    task: JoinHandle<()>,
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ControlPlane {
    pub(crate) async fn start() -> ControlPlane {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let reports = Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = reports.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else { continue };
                let kept = kept.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    let (head_len, body_len) = loop {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
                            let len = head
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .and_then(|v| v.trim().parse::<usize>().ok())
                                .unwrap_or(0);
                            break (i + 4, len);
                        }
                    };
                    while buf.len() < head_len + body_len {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let line = String::from_utf8_lossy(&buf).lines().next().unwrap_or("").to_string();
                    let path = line.split(' ').nth(1).unwrap_or("").to_string();
                    let body = &buf[head_len..head_len + body_len];
                    let answer = if path == "/v1/agent/enroll" {
                        let enroll: sluice_api::Enroll = serde_json::from_slice(body).unwrap();
                        serde_json::json!({"target": enroll.target, "credential": "cred"}).to_string()
                    } else if path.starts_with("/v1/agent/desired?") {
                        std::future::pending::<()>().await;
                        return;
                    } else if path.starts_with("/v1/agent/desired") {
                        serde_json::json!({"target": "t", "version": 1, "services": [], "report_interval_ms": 1000})
                            .to_string()
                    } else if path == "/v1/agent/report" {
                        kept.lock().unwrap().push(serde_json::from_slice(body).unwrap());
                        serde_json::json!({"desired_version": 1}).to_string()
                    } else {
                        let _ = stream
                            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                            .await;
                        return;
                    };
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                        answer.len()
                    );
                    let _ = stream.write_all(resp.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        ControlPlane { addr, reports, task }
    }
}
