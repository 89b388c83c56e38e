use super::*;
use crate::clock::SystemClock;
use crate::config::AgentConfig;
use crate::test_server::{TestServer, until};

async fn serving() -> (tempfile::TempDir, SocketAddr, tokio::task::JoinHandle<()>, Arc<Telemetry>) {
    let dir = tempfile::tempdir().unwrap();
    let telemetry = Arc::new(Telemetry::new("t1", Arc::new(SystemClock)));
    let (listener, bound) = bind("127.0.0.1:0".parse().unwrap(), dir.path()).await.unwrap();
    let task = tokio::spawn(serve(listener, telemetry.clone()));
    (dir, bound, task, telemetry)
}

async fn raw(addr: SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
}

#[tokio::test]
async fn serves_metrics_and_writes_the_bound_address() {
    let (dir, bound, task, telemetry) = serving().await;
    assert_ne!(bound.port(), 0);
    let written = std::fs::read_to_string(dir.path().join(ADDR_FILE)).unwrap();
    assert_eq!(written, format!("{bound}\n"));
    telemetry.applied("edge", 1000, Some("probe_failed"));
    let resp = reqwest::get(format!("http://{bound}/metrics")).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], CONTENT_TYPE);
    let body = resp.bytes().await.unwrap();
    let series = crate::scrape::parse(&body, &|_| true).unwrap();
    let failures = series.iter().find(|s| s.name == "sluice_agent_apply_failures_total").unwrap();
    assert_eq!((failures.label("reason"), failures.value), (Some("probe_failed"), 1.0));
    assert!(series.iter().any(|s| s.name == "sluice_agent_last_report_age_seconds"));
    task.abort();
}

#[tokio::test]
async fn other_paths_methods_and_oversized_heads_are_refused() {
    let (_dir, bound, task, _) = serving().await;
    let not_found = raw(bound, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(not_found.starts_with("HTTP/1.1 404 "), "{not_found}");
    let post = raw(bound, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n").await;
    assert!(post.starts_with("HTTP/1.1 405 "), "{post}");
    let head = raw(bound, "HEAD /metrics?x=1 HTTP/1.0\r\n\r\n").await;
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.ends_with("\r\n\r\n"), "HEAD has no body: {head}");
    let huge = format!("GET /metrics HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD_BYTES + 10));
    let mut stream = TcpStream::connect(bound).await.unwrap();
    let _ = stream.write_all(huge.as_bytes()).await;
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer).await;
    assert!(answer.starts_with("HTTP/1.1 431 "), "{answer}");
    task.abort();
}

/// The whole agent, enrolled nowhere (its server does not answer): the metrics endpoint, the
/// probes and the command run from the start.
#[tokio::test]
async fn a_running_agent_serves_its_probes_on_metrics_listen() {
    let site = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "server: http://127.0.0.1:1\nid: edge-1\nenrollment_token: tok\nstate_dir: {}\nmetrics_listen: 127.0.0.1:0\n\
         services:\n  web:\n    probes:\n      - {{url: \"{}\", every: 10ms}}\n      - {{url: \"{}\", every: 10ms}}\n",
        dir.path().display(),
        site.url("/ok"),
        site.url("/bad"),
    );
    let config = AgentConfig::parse("a.yaml", &text).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let agent = tokio::spawn(crate::runtime::run(config, async {
        let _ = stopped.await;
    }));
    let addr_file = dir.path().join(ADDR_FILE);
    until("metrics.addr", || addr_file.exists()).await;
    let addr = std::fs::read_to_string(&addr_file).unwrap().trim().to_string();
    let url = format!("http://{addr}/metrics");
    let count = |body: &[u8], class: &str| -> f64 {
        crate::scrape::parse(body, &|n| n == "sluice_probe_requests_total")
            .unwrap()
            .iter()
            .filter(|s| s.label("code_class") == Some(class))
            .inspect(|s| assert_eq!((s.label("target"), s.label("service")), (Some("edge-1"), Some("web"))))
            .map(|s| s.value)
            .sum()
    };
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let body = reqwest::get(&url).await.unwrap().bytes().await.unwrap();
        if count(&body, "2xx") >= 3.0 && count(&body, "5xx") >= 3.0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no probes counted:\n{}", String::from_utf8_lossy(&body));
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    stop.send(()).unwrap();
    agent.await.unwrap().unwrap();
    // Stopped: the listener is closed.
    assert!(TcpStream::connect(&addr).await.is_err());
}

#[tokio::test]
async fn an_address_in_use_is_a_config_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "server: http://127.0.0.1:1\nid: t1\nenrollment_token: tok\nstate_dir: {}\nmetrics_listen: {addr}\n",
        dir.path().display()
    );
    let config = AgentConfig::parse("a.yaml", &text).unwrap();
    let err = crate::runtime::run(config, std::future::pending()).await.unwrap_err();
    assert!(err.is_config(), "{err}");
    assert!(err.to_string().starts_with(&format!("cannot serve metrics on {addr}: ")), "{err}");
}
