//! The demo edge's HTTP side: a deliberately tiny HTTP/1.1 server (keep-alive, bounded heads
//! and bodies, idle timeout) that answers `/healthz`, `/metrics`, and every other path with
//! [`decide`] over the config of the release the `current` link points at. The link is
//! resolved on every request (one `realpath`), and the config is reloaded when its target
//! changes, so an agent's atomic switch is seen by the very next request.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use super::clock;
use super::edge_config::{self, EdgeConfig};
use super::edge_decision::{Answer, Proxy, Ruleset, decide};
use super::edge_metrics::EdgeMetrics;

/// Largest request line plus headers.
const MAX_HEAD_BYTES: u64 = 16 * 1024;
/// Largest request body (read and thrown away).
const MAX_BODY_BYTES: u64 = 1024 * 1024;
/// A connection idle this long is closed.
const IDLE: Duration = Duration::from_secs(30);

type Loaded = Arc<Result<EdgeConfig, String>>;

/// One demo edge: what it plays, where its release lives, and its counters.
#[derive(Debug)]
pub struct Edge {
    dir: PathBuf,
    proxy: Proxy,
    ruleset: Ruleset,
    live: Mutex<Option<(Option<PathBuf>, Loaded)>>,
    metrics: EdgeMetrics,
}

/// An HTTP answer before it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    pub bot_score: Option<u8>,
}

impl Edge {
    pub fn new(dir: &Path, proxy: Proxy, ruleset: Ruleset) -> Arc<Edge> {
        Arc::new(Edge {
            dir: dir.to_path_buf(),
            proxy,
            ruleset,
            live: Mutex::new(None),
            metrics: EdgeMetrics::default(),
        })
    }

    /// The config of the release `dir` resolves to now, reloaded when the link moved.
    fn config(&self) -> Loaded {
        let key = std::fs::canonicalize(&self.dir).ok();
        let Ok(mut live) = self.live.lock() else {
            return Arc::new(Err("edge state poisoned".into()));
        };
        if let Some((k, cfg)) = live.as_ref()
            && *k == key
        {
            return cfg.clone();
        }
        let cfg: Loaded = Arc::new(match &key {
            None => Ok(EdgeConfig::default()),
            Some(dir) => edge_config::load(dir).map_err(|e| e.to_string()),
        });
        let shown = key.as_deref().map(|p| p.display().to_string()).unwrap_or_else(|| "(no release yet)".into());
        let line = match cfg.as_ref() {
            Ok(c) => format!(
                "demo-edge: loaded {shown}: {} rules, {} kill switches, {} features",
                c.rules.len(),
                c.killed.len(),
                c.features
            ),
            Err(e) => format!("demo-edge: {shown}: {e}"),
        };
        {
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr(), "{line}");
        }
        *live = Some((key, cfg.clone()));
        cfg
    }

    /// Answer a request for `path` and count it (no I/O but reading the release on a switch).
    pub fn respond(&self, path: &str) -> Response {
        let path = path.split('?').next().unwrap_or("");
        match path {
            "/healthz" => Response { status: 200, content_type: TEXT, body: "ok\n".into(), bot_score: None },
            "/metrics" => Response {
                status: 200,
                content_type: "text/plain; version=0.0.4; charset=utf-8",
                body: self.metrics.render(),
                bot_score: None,
            },
            _ => {
                let started = clock::instant();
                let Answer { status, body, bot_score } = decide(&self.config(), self.proxy, self.ruleset);
                self.metrics.record(status, started.elapsed(), bot_score);
                Response { status, content_type: TEXT, body, bot_score: Some(bot_score) }
            }
        }
    }
}

const TEXT: &str = "text/plain; charset=utf-8";

/// Accept connections until the listener fails.
pub async fn serve(listener: TcpListener, edge: Arc<Edge>) -> io::Result<()> {
    loop {
        let (sock, _) = listener.accept().await?;
        let edge = edge.clone();
        tokio::spawn(async move {
            let _ = connection(sock, &edge).await;
        });
    }
}

/// The head of one request.
#[derive(Debug, PartialEq, Eq)]
struct Head {
    path: String,
    content_length: u64,
    close: bool,
}

async fn connection(sock: TcpStream, edge: &Edge) -> io::Result<()> {
    let _ = sock.set_nodelay(true);
    let (r, mut w) = sock.into_split();
    let mut r = BufReader::new(r);
    loop {
        let head = match tokio::time::timeout(IDLE, read_head(&mut r)).await {
            Ok(Ok(Some(h))) => h,
            Ok(Ok(None)) | Err(_) => return Ok(()),
            Ok(Err(e)) => {
                let _ = w.write_all(&encode(400, TEXT, &format!("bad request: {e}\n"), None, true)).await;
                return Ok(());
            }
        };
        if head.content_length > MAX_BODY_BYTES {
            w.write_all(&encode(413, TEXT, "body too large\n", None, true)).await?;
            return Ok(());
        }
        let mut body = (&mut r).take(head.content_length);
        let got = tokio::io::copy(&mut body, &mut tokio::io::sink()).await?;
        if got < head.content_length {
            return Ok(());
        }
        let resp = edge.respond(&head.path);
        w.write_all(&encode(resp.status, resp.content_type, &resp.body, resp.bot_score, head.close)).await?;
        if head.close {
            return Ok(());
        }
    }
}

/// Read one request head; `None` on a clean end of the connection.
async fn read_head<R: AsyncBufRead + Unpin>(r: &mut R) -> io::Result<Option<Head>> {
    let mut limited = r.take(MAX_HEAD_BYTES);
    let mut line = String::new();
    if limited.read_line(&mut line).await? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(_method), Some(path), Some(version)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "malformed request line"));
    };
    let mut head = Head { path: path.to_string(), content_length: 0, close: version == "HTTP/1.0" };
    loop {
        line.clear();
        if limited.read_line(&mut line).await? == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "request head too long or cut short"));
        }
        let l = line.trim_end_matches(['\r', '\n']);
        if l.is_empty() {
            return Ok(Some(head));
        }
        let Some((name, value)) = l.split_once(':') else {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "malformed header"));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            head.content_length =
                value.parse().map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad content-length"))?;
        } else if name.eq_ignore_ascii_case("connection") {
            head.close = value.eq_ignore_ascii_case("close");
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "chunked bodies are not supported"));
        }
    }
}

fn encode(status: u16, content_type: &str, body: &str, bot_score: Option<u8>, close: bool) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        413 => "Payload Too Large",
        500 => "Internal Server Error",
        _ => "",
    };
    let mut head =
        format!("HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n", body.len());
    if let Some(score) = bot_score {
        head.push_str(&format!("x-bot-score: {score}\r\n"));
    }
    if close {
        head.push_str("connection: close\r\n");
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::demo::edge_decision::EXECUTE_NIL;

    const RULES: &str = r#"{"rules":[{"id":"waf-test","action":"execute","enabled":true}]}"#;

    fn release(root: &Path, name: &str, flags: &str) -> PathBuf {
        let d = root.join(name);
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("rules.json"), RULES).unwrap();
        fs::write(d.join("flags.json"), flags).unwrap();
        d
    }

    fn point(link: &Path, to: &Path) {
        let tmp = link.with_extension("tmp");
        let _ = fs::remove_file(&tmp);
        std::os::unix::fs::symlink(to, &tmp).unwrap();
        fs::rename(&tmp, link).unwrap();
    }

    #[test]
    fn the_edge_follows_the_current_link() {
        let root = tempfile::tempdir().unwrap();
        let link = root.path().join("current");
        let edge = Edge::new(&link, Proxy::Fl1, Ruleset::Managed);
        assert_eq!(edge.respond("/").status, 200, "no release yet: empty config");
        let good = release(root.path(), "r1", r#"{"kill_switches":{}}"#);
        let bad = release(root.path(), "r2", r#"{"kill_switches":{"waf-test":true}}"#);
        point(&link, &good);
        assert_eq!(edge.respond("/").status, 200);
        point(&link, &bad);
        let r = edge.respond("/any/path?x=1");
        assert_eq!((r.status, r.body.trim()), (500, EXECUTE_NIL));
        assert_eq!(edge.respond("/healthz").status, 200, "health checks pass while requests fail");
        point(&link, &good);
        assert_eq!(edge.respond("/").status, 200);
        let m = edge.respond("/metrics");
        assert!(m.body.contains("edge_requests_total{code=\"500\"} 1"), "{}", m.body);
        assert!(m.body.contains("edge_requests_total{code=\"200\"} 3"), "{}", m.body);
    }

    #[test]
    fn a_broken_file_answers_500_with_the_reason() {
        let root = tempfile::tempdir().unwrap();
        let d = root.path().join("r1");
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("features.json"), "{\"features\": [").unwrap();
        let edge = Edge::new(&d, Proxy::Fl2, Ruleset::None);
        let r = edge.respond("/");
        assert_eq!(r.status, 500);
        assert!(r.body.contains("features.json"), "{}", r.body);
        assert_eq!(edge.respond("/healthz").status, 200);
    }

    #[tokio::test]
    async fn it_speaks_http_with_keep_alive() {
        let root = tempfile::tempdir().unwrap();
        let edge = Edge::new(&root.path().join("current"), Proxy::Fl2, Ruleset::None);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(serve(listener, edge));
        let http = reqwest::Client::new();
        for _ in 0..3 {
            let r = http.get(format!("{url}/")).send().await.unwrap();
            assert_eq!(r.status(), 200);
            assert_eq!(r.headers()["x-bot-score"], "87");
        }
        let r = http.post(format!("{url}/upload")).body("x".repeat(5000)).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let text = http.get(format!("{url}/metrics")).send().await.unwrap().text().await.unwrap();
        assert!(text.contains("edge_requests_total{code=\"200\"} 4"), "{text}");
    }

    #[tokio::test]
    async fn garbage_gets_a_400_and_a_closed_connection() {
        let mut r = BufReader::new(&b"NONSENSE\r\n\r\n"[..]);
        assert!(read_head(&mut r).await.is_err());
        let long = format!("GET / HTTP/1.1\r\nx: {}\r\n\r\n", "a".repeat(20_000));
        let mut r = BufReader::new(long.as_bytes());
        assert!(read_head(&mut r).await.is_err());
        let mut r = BufReader::new(&b"GET /x HTTP/1.1\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc"[..]);
        let h = read_head(&mut r).await.unwrap().unwrap();
        assert_eq!(h, Head { path: "/x".into(), content_length: 3, close: true });
    }
}
