use std::collections::BTreeSet;
use std::time::Duration;

use tokio::sync::mpsc;

use super::client::{FloorClient, FloorClientSpec, FloorControl, FloorReceipt, http_client};
use super::server::FloorServer;
use super::*;

const CLIENTS: usize = 20;

/// Waits (bounded) until every client has received `version`; returns those receipts.
async fn receipts_of(rx: &mut mpsc::UnboundedReceiver<FloorReceipt>, version: u64) -> Vec<FloorReceipt> {
    let mut got = Vec::new();
    let mut clients = BTreeSet::new();
    tokio::time::timeout(Duration::from_secs(5), async {
        while clients.len() < CLIENTS {
            let r = rx.recv().await.unwrap();
            if r.version == version {
                assert!(clients.insert(r.client.clone()), "{} got version {version} twice", r.client);
                got.push(r);
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("only {} of {CLIENTS} clients got version {version}", clients.len()));
    got
}

/// Waits (bounded) until every client has reported the current release running.
async fn reports_of_current(control: &FloorControl) -> Stats {
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let s = control.stats().await.unwrap();
            if s.reports_current >= CLIENTS as u64 {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_client_receives_each_release_and_reports_it() {
    let server = FloorServer::start("127.0.0.1:0".parse().unwrap(), Duration::from_secs(60)).await.unwrap();
    let base = format!("http://{}", server.addr());
    let http = http_client().unwrap();
    let control = FloorControl::new(http.clone(), &base);
    let (tx, mut rx) = mpsc::unbounded_channel();
    // A long interval and no offset: besides one report at the start, every report is the
    // one a new release triggers.
    let clients: Vec<FloorClient> = (0..CLIENTS)
        .map(|i| {
            let spec = FloorClientSpec {
                report_offset: Duration::ZERO,
                ..FloorClientSpec::new(format!("floor-{i:02}"), Duration::from_secs(60))
            };
            FloorClient::start(&http, &base, spec, tx.clone())
        })
        .collect();
    receipts_of(&mut rx, 0).await;

    for version in 1..=2 {
        let released = control.release().await.unwrap();
        assert_eq!(released.version, version);
        for r in receipts_of(&mut rx, version).await {
            assert!(r.at >= released.decided_at, "{r:?} before the decision at {:?}", released.decided_at);
        }
        let stats = reports_of_current(&control).await;
        assert_eq!(stats.version, version);
    }
    let stats = server.stats();
    assert!(stats.reports >= 2 * CLIENTS as u64 && stats.reports <= 3 * CLIENTS as u64, "{stats:?}");
    for c in clients {
        assert_eq!(c.errors.load(std::sync::atomic::Ordering::Relaxed), 0);
        c.stop().await;
    }
}

#[tokio::test]
async fn a_poll_waits_its_time_when_nothing_changes_and_refuses_long_waits() {
    let server = FloorServer::start("127.0.0.1:0".parse().unwrap(), Duration::from_secs(5)).await.unwrap();
    let base = format!("http://{}", server.addr());
    let http = http_client().unwrap();
    let view: sluice_api::DesiredView = http
        .get(format!("{base}/poll?after=0&wait_ms=20"))
        .bearer_auth("floor-x")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((view.version, view.target.0.as_str(), view.report_interval_ms), (0, "floor-x", 5000));
    assert_eq!(view.services[0].release, None);
    let too_long = http.get(format!("{base}/poll?after=0&wait_ms=60001")).send().await.unwrap();
    assert_eq!(too_long.status(), reqwest::StatusCode::BAD_REQUEST);
}

#[test]
fn releases_are_spelt_like_release_ids() {
    assert_eq!(release_of(0), None);
    assert_eq!(release_of(1).unwrap().0.len(), 64);
}

#[test]
fn a_report_is_about_300_bytes_of_json() {
    let spec = FloorClientSpec::new("floor-00042".into(), Duration::from_secs(5));
    let r = super::client::report(&spec, release_of(7), sluice_core::time::Millis(1_760_000_000_000), 5000);
    let len = serde_json::to_vec(&r).unwrap().len();
    assert!((250..=450).contains(&len), "{len} bytes");
}
