//! A service's Prometheus `/metrics`, played by the test: a loopback HTTP endpoint whose
//! request counter moves on every scrape, by the release the agent's `current` link points at
//! — one host that answers 500 to every request of a release, or one that counts a million.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// How the played service answers.
#[derive(Debug, Clone, Copy)]
pub struct Traffic {
    /// Requests counted per scrape.
    pub per_scrape: u64,
    /// Every request fails (code 500) while the live `app.conf` contains this.
    pub fails_on: Option<&'static str>,
}

/// A running endpoint; it stops when dropped.
#[derive(Debug)]
pub struct ServiceMetrics {
    pub url: String,
    /// `fails_on` counts only while armed (from the start, unless served disarmed).
    armed: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl Drop for ServiceMetrics {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ServiceMetrics {
    /// Serves on a free loopback port the counters of the service whose live release is
    /// `current` (a link that may not exist yet).
    pub async fn serve(current: PathBuf, traffic: Traffic) -> ServiceMetrics {
        Self::serve_armed(current, traffic, true).await
    }

    /// As [`serve`](Self::serve), but `fails_on` only counts once [`arm`](Self::arm) is
    /// called: a failure that starts later (a dependency breaks after the bake).
    pub async fn serve_armed(current: PathBuf, traffic: Traffic, armed: bool) -> ServiceMetrics {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/metrics", listener.local_addr().unwrap());
        let counts = Arc::new(Mutex::new((0u64, 0u64)));
        let armed = Arc::new(AtomicBool::new(armed));
        let armed_task = armed.clone();
        let task = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let (current, counts) = (current.clone(), counts.clone());
                let armed = armed_task.load(Ordering::SeqCst);
                tokio::spawn(async move {
                    let _ = answer(conn, &current, traffic, armed, &counts).await;
                });
            }
        });
        ServiceMetrics { url, armed, task }
    }

    /// From now on, requests fail while the live release matches `fails_on`.
    pub fn arm(&self) {
        self.armed.store(true, Ordering::SeqCst);
    }

    /// The agent's `metrics:` configuration for this endpoint (one line of flow YAML).
    pub fn agent_config(&self) -> String {
        format!(
            "metrics: {{url: \"{}\", requests: app_requests_total, errors: {{metric: app_requests_total, label: code, matches: \"5..\"}}}}",
            self.url
        )
    }
}

/// One request per connection: read the head, count this scrape's traffic, answer, close.
async fn answer(
    conn: TcpStream,
    current: &std::path::Path,
    traffic: Traffic,
    armed: bool,
    counts: &Mutex<(u64, u64)>,
) -> std::io::Result<()> {
    let mut conn = BufReader::new(conn);
    let mut line = String::new();
    loop {
        line.clear();
        if conn.read_line(&mut line).await? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }
    let conf = std::fs::read_to_string(current.join("app.conf")).unwrap_or_default();
    let failing = armed && traffic.fails_on.is_some_and(|f| conf.contains(f));
    let (ok, errors) = {
        let mut c = counts.lock().unwrap();
        if failing {
            c.1 += traffic.per_scrape;
        } else {
            c.0 += traffic.per_scrape;
        }
        *c
    };
    let body = format!(
        "# TYPE app_requests_total counter\napp_requests_total{{code=\"200\"}} {ok}\napp_requests_total{{code=\"500\"}} {errors}\n"
    );
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let conn = conn.get_mut();
    conn.write_all(head.as_bytes()).await?;
    conn.write_all(body.as_bytes()).await?;
    conn.shutdown().await
}
