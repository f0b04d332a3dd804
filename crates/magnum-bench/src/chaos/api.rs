//! The workload's way to the service: each request goes to one of the APIs (chosen by the
//! caller's generator), waits at most `timeout`, and its answer is entered in the ledger.

use super::ledger::Ledger;
use magnum_client::{Client, Method, Reply};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone)]
pub(crate) struct Api {
    clients: Vec<Client>,
    pub ledger: Arc<Ledger>,
    timeout: Duration,
}

impl Api {
    pub fn new(bases: &[String], project: &str, ledger: Arc<Ledger>, timeout: Duration) -> Api {
        // Microversion 1.10: resize by action, zero-worker bays; what current clients send.
        let clients = bases.iter().map(|b| Client::new(b).as_user(project, "chaos", "member").microversion("1.10")).collect();
        Api { clients, ledger, timeout }
    }

    /// Sends one request to API `which` (modulo their number). None: no answer came (the API
    /// was down, paused past the timeout, or died answering).
    pub async fn send(&self, which: usize, method: Method, path: &str, body: Option<&Value>) -> Option<Reply> {
        let c = &self.clients[which % self.clients.len()];
        let m = method.to_string();
        match tokio::time::timeout(self.timeout, c.send(method, path, body.map(Value::to_string))).await {
            Ok(Ok(r)) => {
                let detail = r.error_detail().unwrap_or(&r.text).chars().take(300).collect::<String>();
                self.ledger.answered(&m, path, r.status, r.header("retry-after").is_some(), &detail);
                Some(r)
            }
            _ => {
                self.ledger.unanswered();
                None
            }
        }
    }

    pub fn count(&self) -> usize {
        self.clients.len()
    }

    /// A client of API `which` outside the tally (set-up and the verdict's reads).
    pub fn plain(&self, which: usize) -> &Client {
        &self.clients[which % self.clients.len()]
    }
}
