//! The event log: append-only (the database itself refuses UPDATE and DELETE), paging by
//! sequence number is ordered and gap-free even while writers append.

use std::sync::Arc;

use serde_json::json;
use sluice_core::time::Millis;
use sluice_store::{EventSeq, NewEvent, SqliteStore, Store, StoreError, StoredEvent};

use crate::fixtures;

fn note(i: u64) -> NewEvent {
    NewEvent::new("note", "alice", Millis(i), json!({ "i": i }))
}

#[tokio::test]
async fn events_cannot_be_updated_or_deleted() {
    let (dir, store) = fixtures::open().await;
    store.append_events(&[note(1), note(2)]).await.unwrap();
    let before = store.events_since(EventSeq::ZERO, 10).await.unwrap();

    let mut raw = fixtures::raw(dir.path()).await;
    for sql in [
        "UPDATE events SET actor = 'mallory' WHERE seq = 1",
        "UPDATE events SET body = '{}'",
        "DELETE FROM events WHERE seq = 2",
        "DELETE FROM events",
    ] {
        let err = sqlx::query(sql).execute(&mut raw).await.unwrap_err();
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    // Not even inside a transaction that would otherwise commit.
    let mut tx = sqlx::Connection::begin(&mut raw).await.unwrap();
    assert!(sqlx::query("DELETE FROM events").execute(&mut *tx).await.is_err());
    tx.rollback().await.unwrap();

    assert_eq!(store.events_since(EventSeq::ZERO, 10).await.unwrap(), before);
    // Appending still works.
    assert_eq!(store.append_events(&[note(3)]).await.unwrap(), [EventSeq(3)]);
}

#[tokio::test]
async fn appended_events_read_back_as_written() {
    let (_dir, store) = fixtures::open().await;
    assert_eq!(store.last_event_seq().await.unwrap(), EventSeq::ZERO);
    let e = NewEvent::new("hold_cleared", "bob", Millis(42), json!({ "why": "fixed", "n": [1, 2] })).service("edge");
    let seqs = store.append_events(std::slice::from_ref(&e)).await.unwrap();
    assert_eq!(seqs, [EventSeq(1)]);
    let got = store.events_since(EventSeq::ZERO, 1).await.unwrap();
    assert_eq!(
        got,
        [StoredEvent {
            seq: EventSeq(1),
            at: Millis(42),
            actor: "bob".into(),
            kind: "hold_cleared".into(),
            rollout: None,
            service: Some("edge".into()),
            body: json!({ "why": "fixed", "n": [1, 2] }),
        }]
    );
    assert_eq!(got[0].engine_event().unwrap(), None, "not an engine event");
    assert_eq!(store.last_event_seq().await.unwrap(), EventSeq(1));
}

#[tokio::test]
async fn a_batch_with_a_bad_event_appends_nothing() {
    let (_dir, store) = fixtures::open().await;
    let unknown_rollout = note(2).rollout("r404");
    let err = store.append_events(&[note(1), unknown_rollout]).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { what: "rollout", .. }), "{err:?}");
    let empty_kind = NewEvent::new("", "alice", Millis(1), json!({}));
    assert!(matches!(store.append_events(&[note(1), empty_kind]).await, Err(StoreError::Invalid { .. })));
    let past_the_range = NewEvent::new("note", "alice", Millis(u64::MAX), json!({}));
    assert!(matches!(store.append_events(&[note(1), past_the_range]).await, Err(StoreError::Invalid { .. })));
    assert_eq!(store.last_event_seq().await.unwrap(), EventSeq::ZERO);
}

/// Page through the whole log `limit` at a time.
async fn read_all(store: &SqliteStore, limit: u32) -> Vec<StoredEvent> {
    let mut all = Vec::new();
    let mut cursor = EventSeq::ZERO;
    loop {
        let page = store.events_since(cursor, limit).await.unwrap();
        assert!(page.len() <= limit as usize);
        let Some(last) = page.last() else { break };
        cursor = last.seq;
        all.extend(page);
    }
    all
}

fn assert_gap_free(events: &[StoredEvent]) {
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.seq, EventSeq(i as u64 + 1), "seq {} at position {i}", e.seq);
    }
}

#[tokio::test]
async fn events_since_pages_in_order_without_gaps() {
    let (_dir, store) = fixtures::open().await;
    // Events from every source: plain appends, and the store's own audit events.
    for i in 0..40 {
        let batch: Vec<NewEvent> = (0..(i % 4)).map(|j| note(i * 10 + j)).collect();
        store.append_events(&batch).await.unwrap();
        if i % 5 == 0 {
            store.upsert_target(&fixtures::target(&format!("t{i}"), "prod", i)).await.unwrap();
        }
    }
    let last = store.last_event_seq().await.unwrap();
    for limit in [1, 7, 1000] {
        let all = read_all(&store, limit).await;
        assert_eq!(all.len() as u64, last.0, "limit {limit}");
        assert_gap_free(&all);
    }
    assert!(store.events_since(last, 10).await.unwrap().is_empty());
    assert_eq!(
        store.events_since(EventSeq(5), 3).await.unwrap().iter().map(|e| e.seq.0).collect::<Vec<_>>(),
        [6, 7, 8]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_paging_while_writers_append_sees_every_event_once() {
    let (_dir, store) = fixtures::open().await;
    let store = Arc::new(store);
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                for i in 0..40u64 {
                    let batch = [note(w * 1000 + i), note(w * 1000 + i)];
                    store.append_events(&batch).await.unwrap();
                }
            })
        })
        .collect();
    // Follow the log like a watcher would, while it grows.
    let mut seen: Vec<StoredEvent> = Vec::new();
    let mut cursor = EventSeq::ZERO;
    while seen.len() < 240 {
        let page = store.events_since(cursor, 5).await.unwrap();
        if let Some(last) = page.last() {
            cursor = last.seq;
        } else {
            tokio::task::yield_now().await;
        }
        seen.extend(page);
    }
    for w in writers {
        w.await.unwrap();
    }
    assert_eq!(seen.len(), 240);
    assert_gap_free(&seen);
    // Each writer's batches are contiguous: a transaction's events are never interleaved.
    for pair in seen.chunks(2) {
        assert_eq!(pair[0].body, pair[1].body);
    }
}
