//! Bundles that must never be applied, served to a real agent: a corrupted one (wrong
//! digest), one with `../` paths and one over the service's size limit. The server's own
//! upload checks would refuse the last two, so they are written straight into its database
//! while it is down — a corrupted or tampered store is exactly when the agent's own checks are
//! the last line. Each is refused by the agent, reported, and rolls the rollout back; the
//! agent keeps serving the release it had.

use std::io::Write;
use std::time::Duration;

use sluice_core::engine::Outcome;
use sluice_core::release::{ReleaseFiles, ReleaseId};
use sqlx::Connection;

use super::rig::{Rig, points_at};

const SPEC: &str = r#"
version: 1
services:
  corrupt:
    pipeline: p
    max_bundle_bytes: 4096
  dotdot:
    pipeline: p
    max_bundle_bytes: 4096
  big:
    pipeline: p
    max_bundle_bytes: 4096
pipelines:
  p:
    stages:
      - name: dev
        selector: { env: dev }
        bake: 1s
        gates:
          - threshold: { name: crashes, metric: crash_rate, max: 0, window: 10s, min_samples: 1 }
"#;

/// A gzip'd tar with a proper manifest first, then an entry `../escaped` (listed in the
/// manifest too), written with raw header bytes (the `tar` crate refuses to build such a path).
fn evil_bundle() -> Vec<u8> {
    let content = b"pwn\n";
    let manifest = serde_json::json!({
        "format": "sluice-bundle/1",
        "files": [{"path": "../escaped", "size": 4, "sha256": sluice_bundle::sha256::hex_digest(content)}],
    });
    let manifest = serde_json::to_vec(&manifest).unwrap();
    let mut tar_bytes = Vec::new();
    for (name, data) in [(&b"sluice-manifest.json"[..], &manifest[..]), (&b"../escaped"[..], &content[..])] {
        let mut header = tar::Header::new_gnu();
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        tar_bytes.extend_from_slice(header.as_bytes());
        let mut padded = data.to_vec();
        padded.resize(data.len().div_ceil(512) * 512, 0);
        tar_bytes.extend_from_slice(&padded);
    }
    tar_bytes.extend_from_slice(&[0u8; 1024]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar_bytes).unwrap();
    gz.finish().unwrap()
}

/// A well-formed bundle bigger than 4096 bytes even compressed.
fn big_bundle() -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let noise: Vec<u8> = (0..16_384)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x & 0xff) as u8
        })
        .collect();
    sluice_bundle::pack(&ReleaseFiles::from([("noise.bin".to_string(), noise)])).unwrap()
}

async fn insert_release(db: &mut sqlx::SqliteConnection, service: &str, id: &str, bytes: &[u8], parent: &ReleaseId) {
    sqlx::query("INSERT INTO bundles (digest, size, bytes, stored_at) VALUES ($1, $2, $3, 0)")
        .bind(id)
        .bind(bytes.len() as i64)
        .bind(bytes)
        .execute(&mut *db)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO releases (id, service, parent, created_at, created_by, message, manifest, size) \
         VALUES ($1, $2, $3, 0, 'tamper', 'written behind the server''s back', '{}', $4)",
    )
    .bind(id)
    .bind(service)
    .bind(&parent.0)
    .bind(bytes.len() as i64)
    .execute(&mut *db)
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_digest_dotdot_paths_and_oversize_are_refused_by_the_agent_and_reported() {
    let mut rig = Rig::start(SPEC).await;
    rig.add_agent("dev-1", &[("env", "dev")], &[("corrupt", ""), ("dotdot", ""), ("big", "")]).await;
    rig.wait_fleet_ready().await;
    let mut good = Vec::new();
    for service in ["corrupt", "dotdot", "big"] {
        // Release ids are content addresses: each service gets its own content.
        let v1 = rig.release(service, &[("app.conf", &format!("good for {service}\n"))]).await;
        let r = rig.start_rollout(service, &v1).await;
        assert_eq!(rig.wait_finished(&r.id, Duration::from_secs(30)).await.outcome, Some(Outcome::Completed));
        good.push(v1);
    }

    // A release uploaded properly, whose stored bytes are then corrupted.
    let corrupted = rig.release("corrupt", &[("app.conf", "will be corrupted\n")]).await;
    let other = sluice_bundle::pack(&ReleaseFiles::from([("app.conf".to_string(), b"other\n".to_vec())])).unwrap();
    let evil = evil_bundle();
    let evil_id = sluice_bundle::digest(&evil);
    let big = big_bundle();
    let big_id = sluice_bundle::digest(&big);

    rig.kill9_server();
    {
        let url = format!("sqlite://{}", rig.data_dir().join("sluice.db").display());
        let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query("UPDATE bundles SET bytes = $1 WHERE digest = $2")
            .bind(&other)
            .bind(&corrupted.0)
            .execute(&mut db)
            .await
            .unwrap();
        insert_release(&mut db, "dotdot", &evil_id, &evil, &good[1]).await;
        insert_release(&mut db, "big", &big_id, &big, &good[2]).await;
        db.close().await.unwrap();
    }
    rig.start_server().await;
    rig.wait_fleet_ready().await;

    let agent_dir = rig.agent("dev-1").dir.clone();
    let cases = [
        ("corrupt", corrupted, "digest_mismatch"),
        ("dotdot", ReleaseId(evil_id), "unsafe_path"),
        ("big", ReleaseId(big_id), "too_large"),
    ];
    for ((service, release, reason), good) in cases.into_iter().zip(&good) {
        let r = rig.start_rollout(service, &release).await;
        let done = rig.wait_finished(&r.id, Duration::from_secs(30)).await;
        assert_eq!(done.outcome, Some(Outcome::RolledBack), "{reason}: {done:#?}");
        let events = rig.admin().events(0, 10_000, Some(&r.id)).await.unwrap();
        let failed =
            events.iter().find(|e| e.kind == "apply_failed").unwrap_or_else(|| panic!("{reason}: {events:#?}"));
        let why = failed.body["reason"].as_str().unwrap_or_default();
        assert!(why.contains(reason), "reason {why:?} does not name {reason}");
        assert!(points_at(rig.agent("dev-1").current_target(service).as_deref(), good), "{reason}: switched");
    }
    // Nothing escaped the service directories.
    assert!(!agent_dir.join("services").join("escaped").exists());
    assert!(!agent_dir.join("escaped").exists());
}
