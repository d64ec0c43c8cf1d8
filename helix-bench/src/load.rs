//! The load generator: N tasks, each with its own keep-alive connection, sending one request
//! after the other (closed loop) or at a fixed pace, until a deadline.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::client::{Call, Conn, next_source_address};
use crate::stats::Latencies;

/// What one task sends.
#[derive(Debug, Clone)]
pub enum Work {
    /// The same request every time.
    Fixed(Call),
    /// `POST path {"refresh_token"}` with the token of the previous answer each time (tokens
    /// rotate on every use).
    RefreshChain {
        /// The refresh route.
        path: String,
        /// The first token of this task's chain.
        token: String,
    },
}

/// One task's instructions.
#[derive(Debug, Clone)]
pub struct Task {
    /// What to send.
    pub work: Work,
    /// Reconnect from the next loopback address after this many requests (login: stays
    /// under the per-address limit).
    pub requests_per_connection: Option<u32>,
    /// Pause between the start of two requests (paced readers); `None` is a closed loop.
    pub pace: Option<Duration>,
}

/// What a group of tasks measured.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Latency of every answered request.
    pub latencies: Latencies,
    /// 2xx answers.
    pub ok: u64,
    /// Other answers and transport errors.
    pub errors: u64,
    /// Wall time of the group.
    pub elapsed: Duration,
    /// The first error seen, for the note column.
    pub first_error: Option<String>,
}

impl Outcome {
    fn absorb(&mut self, other: Outcome) {
        self.latencies.merge(other.latencies);
        self.ok += other.ok;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    fn error(&mut self, what: String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(what);
        }
    }
}

/// Runs every task against `server` for `duration` and merges what they measured.
pub async fn run(server: SocketAddr, tasks: Vec<Task>, duration: Duration) -> Outcome {
    let start = Instant::now();
    let deadline = start + duration;
    let handles: Vec<_> = tasks
        .into_iter()
        .map(|t| tokio::spawn(task(server, t, deadline)))
        .collect();
    let mut total = Outcome::default();
    for h in handles {
        match h.await {
            Ok(o) => total.absorb(o),
            Err(e) => total.error(format!("load task failed: {e}")),
        }
    }
    total.elapsed = start.elapsed();
    total
}

async fn task(server: SocketAddr, t: Task, deadline: Instant) -> Outcome {
    let mut out = Outcome::default();
    let mut conn: Option<Conn> = None;
    let mut sent_on_conn = 0u32;
    let mut refresh_token = match &t.work {
        Work::RefreshChain { token, .. } => Some(token.clone()),
        Work::Fixed(_) => None,
    };
    let mut next_start = Instant::now();
    while Instant::now() < deadline {
        if let Some(pace) = t.pace {
            tokio::time::sleep_until(next_start.into()).await;
            next_start += pace;
            if Instant::now() >= deadline {
                break;
            }
        }
        if t.requests_per_connection.is_some_and(|n| sent_on_conn >= n) {
            conn = None;
        }
        let c = match &mut conn {
            Some(c) => c,
            None => match Conn::open(server, Some(next_source_address())).await {
                Ok(c) => {
                    sent_on_conn = 0;
                    conn.insert(c)
                }
                Err(e) => {
                    out.error(format!("connect: {e:#}"));
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let call = match (&t.work, &refresh_token) {
            (Work::Fixed(call), _) => call.clone(),
            (Work::RefreshChain { path, .. }, Some(token)) => {
                Call::post_json(path.clone(), &json!({ "refresh_token": token }))
            }
            // The chain broke on an earlier error: this task has nothing left to send.
            (Work::RefreshChain { .. }, None) => break,
        };
        let sent = Instant::now();
        sent_on_conn += 1;
        match c.send(&call).await {
            Ok((status, body)) => {
                out.latencies.record(sent.elapsed());
                if status.is_success() {
                    out.ok += 1;
                    if refresh_token.is_some() {
                        refresh_token = next_refresh_token(&body);
                        if refresh_token.is_none() {
                            out.error("refresh answer without a refresh_token".into());
                        }
                    }
                } else {
                    let snippet: String =
                        String::from_utf8_lossy(&body).chars().take(160).collect();
                    out.error(format!("{status}: {snippet}"));
                    if refresh_token.is_some() {
                        refresh_token = None;
                    }
                }
            }
            Err(e) => {
                out.error(format!("transport: {e:#}"));
                conn = None;
            }
        }
    }
    out
}

fn next_refresh_token(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    v.get("refresh_token")?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_rotated_token() {
        assert_eq!(
            next_refresh_token(br#"{"access_token":"a","refresh_token":"r2"}"#).as_deref(),
            Some("r2")
        );
        assert_eq!(next_refresh_token(b"{}"), None);
        assert_eq!(next_refresh_token(b"not json"), None);
    }
}
