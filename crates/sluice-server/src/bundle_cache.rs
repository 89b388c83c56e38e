//! Hot bundles in memory: when thousands of agents download the same bundle at once, the first
//! request reads it from the store and the others wait for that one read. Bundles are evicted
//! oldest first once the cache holds more than its byte budget.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Bytes;
use sluice_store::{Store, StoreError};
use tokio::sync::OnceCell;

/// Bytes of bundles kept in memory.
pub const DEFAULT_BUDGET: u64 = 256 * 1024 * 1024;

#[derive(Debug)]
struct Entry {
    cell: Arc<OnceCell<Bytes>>,
    /// Counted against the budget once loaded.
    size: Option<u64>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    order: VecDeque<String>,
    bytes: u64,
}

#[derive(Debug)]
pub struct BundleCache {
    budget: u64,
    inner: Mutex<Inner>,
}

impl BundleCache {
    pub fn new(budget: u64) -> BundleCache {
        BundleCache { budget, inner: Mutex::new(Inner::default()) }
    }

    /// The bundle stored under `digest`.
    pub async fn get(&self, store: &dyn Store, digest: &str) -> Result<Bytes, StoreError> {
        let cell = {
            let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(e) = inner.entries.get(digest) {
                e.cell.clone()
            } else {
                let cell = Arc::new(OnceCell::new());
                inner.entries.insert(digest.to_string(), Entry { cell: cell.clone(), size: None });
                inner.order.push_back(digest.to_string());
                cell
            }
        };
        let loaded = cell.get_or_try_init(|| async { store.get_bundle(digest).await.map(Bytes::from) }).await;
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        match loaded {
            Ok(bytes) => {
                let bytes = bytes.clone();
                let size = bytes.len() as u64;
                let counted = match inner.entries.get_mut(digest) {
                    Some(e) if e.size.is_none() && Arc::ptr_eq(&e.cell, &cell) => {
                        e.size = Some(size);
                        true
                    }
                    _ => false,
                };
                if counted {
                    inner.bytes = inner.bytes.saturating_add(size);
                    self.evict(&mut inner, digest);
                }
                Ok(bytes)
            }
            Err(e) => {
                if inner.entries.get(digest).is_some_and(|en| Arc::ptr_eq(&en.cell, &cell) && en.size.is_none()) {
                    inner.entries.remove(digest);
                    inner.order.retain(|d| d != digest);
                }
                Err(e)
            }
        }
    }

    /// Drop the oldest loaded bundles (never `keep`) until within budget.
    fn evict(&self, inner: &mut Inner, keep: &str) {
        let mut i = 0;
        while inner.bytes > self.budget && i < inner.order.len() {
            let Some(d) = inner.order.get(i).cloned() else { break };
            let loaded = inner.entries.get(&d).and_then(|e| e.size);
            match loaded {
                Some(size) if d != keep => {
                    inner.entries.remove(&d);
                    inner.order.remove(i);
                    inner.bytes = inner.bytes.saturating_sub(size);
                }
                _ => i += 1,
            }
        }
    }
}
