//! A PromQL gate against a real Prometheus (the `prometheus` binary on PATH, Debian package
//! `prometheus`): it is started as a child process on a free port with a temp config and
//! storage, scrapes a tiny in-test exporter, and the gate judges what its query returns.
//! Without the binary the test prints "skipped: prometheus not installed" and passes, unless
//! `SLUICE_REQUIRE_ALL=1`.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use sluice_core::engine::{Outcome, Verdict};

use crate::harness::eventually;
use crate::prometheus_gates::setup;
use crate::rollouts::{finished, start_req};

/// Kills and reaps the child when dropped, whatever happens in the test.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn prometheus_binary() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join("prometheus")).find(|p| p.is_file())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// An exporter of per-target error ratios: `prod-b` is failing.
async fn exporter() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    const BODY: &str = "# TYPE web_error_ratio gauge\n\
        web_error_ratio{target=\"prod-a\"} 0\n\
        web_error_ratio{target=\"prod-b\"} 0.25\n\
        web_error_ratio{target=\"not-enrolled\"} 0\n";
    let app = axum::Router::new().route("/metrics", axum::routing::get(|| async { BODY }));
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    let addr = listener.local_addr().unwrap();
    (addr, tokio::spawn(async move { axum::serve(listener, app).await.unwrap() }))
}

#[tokio::test]
async fn a_promql_gate_judges_a_real_prometheus() {
    let Some(bin) = prometheus_binary() else {
        if std::env::var("SLUICE_REQUIRE_ALL").as_deref() == Ok("1") {
            panic!("prometheus is not installed and SLUICE_REQUIRE_ALL=1");
        }
        println!("skipped: prometheus not installed");
        return;
    };
    let (exporter_addr, exporter_task) = exporter().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 500ms\n\
             scrape_configs:\n  - job_name: web\n    static_configs:\n      - targets: ['{exporter_addr}']\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
    let child = Command::new(&bin)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let _prometheus = KillOnDrop(child);
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    eventually("prometheus to be ready", Duration::from_secs(30), || async {
        let r = http.get(format!("{url}/-/ready")).send().await.ok()?;
        r.status().is_success().then_some(())
    })
    .await;

    let spec = crate::prometheus_gates::spec(&url, 2, "20s")
        .replace(crate::prometheus_gates::QUERY, "max by (target) (web_error_ratio)")
        .replace("every: 100ms", "every: 200ms");
    let s = setup(spec).await;
    let v1 = s.t.admin.create_release("web", crate::harness::web_bundle(1), "v1").await.unwrap().release.id;
    let started = s.t.admin.start_rollout(&start_req(&v1, None)).await.unwrap();
    let done = finished(&s.t.admin, &started.id, Duration::from_secs(60)).await;
    let log = std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default();
    assert_eq!(done.outcome, Some(Outcome::RolledBack), "{:?}\nprometheus log:\n{log}", done.reason);
    let a = done.gates.iter().find(|e| e.scope.as_deref() == Some("variant=a")).unwrap();
    let b = done.gates.iter().find(|e| e.scope.as_deref() == Some("variant=b")).unwrap();
    assert_eq!(b.verdict, Verdict::Fail, "{b:?}");
    assert_eq!(b.value, Some(0.25), "the value Prometheus scraped: {b:?}");
    assert_eq!(b.reason, "prom_error_rate = 0.25 > max 0.01; breaching on their own: prod-b prom_error_rate = 0.25");
    assert_eq!(a.value, Some(0.0), "{a:?}");
    exporter_task.abort();
    s.t.server.shutdown().await.unwrap();
}
