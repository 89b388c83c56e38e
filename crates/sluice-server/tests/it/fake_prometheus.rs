//! A fake Prometheus HTTP API on port 0: `GET /api/v1/query` answers what the test set, and
//! counts the queries it got.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Query, State};
use axum::routing::get;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

/// What the fake answers.
#[derive(Debug, Clone)]
pub enum Answer {
    /// A vector: `(labels, value text)` per series.
    Vector(Vec<(Vec<(&'static str, String)>, String)>),
    /// `status: error`.
    Error(&'static str),
}

impl Answer {
    /// One series per target, labelled `target=<id>`.
    pub fn per_target(values: &[(&str, f64)]) -> Answer {
        Answer::Vector(values.iter().map(|(t, v)| (vec![("target", t.to_string())], v.to_string())).collect())
    }
}

#[derive(Debug)]
struct Shared {
    answer: Mutex<Answer>,
    queries: AtomicUsize,
    last_query: Mutex<Option<String>>,
}

pub struct FakePrometheus {
    pub url: String,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Drop for FakePrometheus {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakePrometheus {
    pub async fn start(answer: Answer) -> FakePrometheus {
        let shared =
            Arc::new(Shared { answer: Mutex::new(answer), queries: AtomicUsize::new(0), last_query: Mutex::new(None) });
        let app = axum::Router::new().route("/api/v1/query", get(query)).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakePrometheus { url, shared, task }
    }

    pub fn set(&self, answer: Answer) {
        *self.shared.answer.lock().unwrap() = answer;
    }

    pub fn queries(&self) -> usize {
        self.shared.queries.load(Ordering::SeqCst)
    }

    pub fn last_query(&self) -> Option<String> {
        self.shared.last_query.lock().unwrap().clone()
    }
}

async fn query(State(s): State<Arc<Shared>>, Query(q): Query<HashMap<String, String>>) -> Json<Value> {
    s.queries.fetch_add(1, Ordering::SeqCst);
    *s.last_query.lock().unwrap() = q.get("query").cloned();
    let answer = s.answer.lock().unwrap().clone();
    Json(match answer {
        Answer::Vector(series) => {
            let result: Vec<Value> = series
                .into_iter()
                .map(|(labels, v)| {
                    let metric: serde_json::Map<String, Value> =
                        labels.into_iter().map(|(k, v)| (k.to_string(), Value::String(v))).collect();
                    json!({"metric": metric, "value": [1_700_000_000.0, v]})
                })
                .collect();
            json!({"status": "success", "data": {"resultType": "vector", "result": result}})
        }
        Answer::Error(msg) => json!({"status": "error", "errorType": "bad_data", "error": msg}),
    })
}
