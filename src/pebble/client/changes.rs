//! Service actions and the changes they start: posting the action, then waiting for
//! the change to be ready (`CONTRACT.md` E.5, E.6), with the fallbacks ops keeps for
//! old Pebbles (polling when there is no wait endpoint, restart as stop + start). Exec
//! waits for its change through here too.

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::transport::{change_id, decode_result, format_duration};
use super::{PebbleClient, REQUEST_TIMEOUT};
use crate::pebble::{Change, PebbleError, Result, ServiceAction, ServiceInfo, TaskInfo};

/// How long service actions wait for their change (ops' default).
pub(super) const CHANGE_TIMEOUT: Duration = Duration::from_secs(30);
/// Interval of the polling fallback for Pebbles without `/v1/changes/{id}/wait`.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

impl PebbleClient {
    pub(super) async fn service_action_async(
        &self,
        action: ServiceAction,
        names: &[String],
    ) -> Result<Change> {
        match self.run_service_action(action, names).await {
            // Pebbles older than the restart action answer 400; do what it would do.
            // Never with no names: listing "all services" would stop every one of them.
            Err(PebbleError::Api { status: 400, .. })
                if action == ServiceAction::Restart && !names.is_empty() =>
            {
                let running: Vec<String> = self
                    .services_async(names)
                    .await?
                    .into_iter()
                    .filter(ServiceInfo::is_running)
                    .map(|s| s.name)
                    .collect();
                if !running.is_empty() {
                    self.run_service_action(ServiceAction::Stop, &running)
                        .await?;
                }
                self.run_service_action(ServiceAction::Start, names).await
            }
            other => other,
        }
    }

    async fn run_service_action(&self, action: ServiceAction, names: &[String]) -> Result<Change> {
        let body = json!({"action": action.as_str(), "services": names});
        let envelope = self.post("/v1/services", body).await?;
        let id = change_id("POST /v1/services", &envelope)?;
        let change = self.wait_change(&id, Some(CHANGE_TIMEOUT)).await?;
        change.into_result()
    }

    /// Wait until change `id` is ready, `timeout` overall (`None`: forever). Each wait
    /// request asks the server to give up a second before our request timeout would, so
    /// a slow change shows up as a 504 to retry rather than as a broken request.
    pub(super) async fn wait_change(
        &self,
        id: &str,
        timeout: Option<Duration>,
    ) -> Result<ChangeJson> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let per_request = REQUEST_TIMEOUT
            .saturating_sub(Duration::from_secs(1))
            .max(Duration::from_secs(1));
        let path = format!("/v1/changes/{id}/wait");
        loop {
            let this_wait = match remaining(deadline) {
                None => per_request,
                // Pebble reads a zero timeout as "wait forever"; never send one.
                Some(left) if left < Duration::from_millis(1) => {
                    return Err(change_timeout(id, timeout));
                }
                Some(left) => left.min(per_request),
            };
            let wait = format_duration(this_wait);
            match self.get(&path, &[("timeout", wait.as_str())]).await {
                Ok(envelope) => return decode_result(&format!("GET {path}"), envelope.result),
                Err(PebbleError::Api { status: 504, .. }) => continue,
                // Pebbles without the wait endpoint answer 404 to it.
                Err(PebbleError::Api { status: 404, .. }) => {
                    return self.poll_change(id, deadline, timeout).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn poll_change(
        &self,
        id: &str,
        deadline: Option<Instant>,
        timeout: Option<Duration>,
    ) -> Result<ChangeJson> {
        let path = format!("/v1/changes/{id}");
        loop {
            let envelope = self.get(&path, &[]).await?;
            let change: ChangeJson = decode_result(&format!("GET {path}"), envelope.result)?;
            if change.ready {
                return Ok(change);
            }
            let pause = match remaining(deadline) {
                None => POLL_INTERVAL,
                Some(left) if left.is_zero() => return Err(change_timeout(id, timeout)),
                Some(left) => left.min(POLL_INTERVAL),
            };
            tokio::time::sleep(pause).await;
        }
    }
}

fn remaining(deadline: Option<Instant>) -> Option<Duration> {
    deadline.map(|d| d.saturating_duration_since(Instant::now()))
}

fn change_timeout(id: &str, timeout: Option<Duration>) -> PebbleError {
    let after = timeout.map_or_else(String::new, |t| format!(" after {}", format_duration(t)));
    PebbleError::Timeout(format!("change {id} was not ready{after}"))
}

#[derive(Debug, Deserialize)]
pub(super) struct ChangeJson {
    id: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    ready: bool,
    #[serde(default)]
    err: Option<String>,
    #[serde(default)]
    tasks: Vec<TaskJson>,
}

#[derive(Debug, Deserialize)]
struct TaskJson {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    data: Map<String, Value>,
}

impl ChangeJson {
    /// An exec's exit code lives in its first task's data; -1 when Pebble recorded none
    /// (the command never started, or was killed on timeout).
    pub(super) fn exit_code(&self) -> i64 {
        self.tasks
            .first()
            .and_then(|t| t.data.get("exit-code"))
            .and_then(Value::as_i64)
            .unwrap_or(-1)
    }

    /// A change succeeded iff it has no `err`.
    pub(super) fn into_result(self) -> Result<Change> {
        match self.err {
            Some(err) if !err.is_empty() => Err(PebbleError::Change {
                id: self.id,
                err,
                tasks: self
                    .tasks
                    .into_iter()
                    .map(|t| TaskInfo {
                        kind: t.kind,
                        summary: t.summary,
                        status: t.status,
                    })
                    .collect(),
                output: None,
            }),
            _ => Ok(Change {
                id: self.id,
                kind: self.kind,
                summary: self.summary,
                status: self.status,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    //! Service actions on the wire: waiting through 504s, polling old Pebbles, and
    //! restart's fallback.

    use super::*;
    use crate::pebble::Pebble;
    use crate::pebble::client::test_server::{
        Responder, accepted, done_change, error, sync, unexpected,
    };
    use std::sync::{Arc, Mutex};

    #[test]
    fn replan_waits_through_a_504_for_its_change() {
        let mut timed_out_once = false;
        let responder = Responder::start(move |r| match (r.method.as_str(), r.path()) {
            ("POST", "/v1/services") => accepted("7", None),
            ("GET", "/v1/changes/7/wait") if !timed_out_once => {
                timed_out_once = true;
                error(504, "timed out waiting for change after 4s", None)
            }
            ("GET", "/v1/changes/7/wait") => sync(done_change("7", "replan", None, json!({}))),
            _ => unexpected(r),
        });
        let mut client = responder.client();
        let change = client.service_action(ServiceAction::Replan, &[]).unwrap();
        assert_eq!(change.id, "7");
        assert_eq!(change.kind, "replan");
        assert_eq!(change.status, "Done");
        let requests = responder.requests();
        assert_eq!(
            requests[0].json(),
            json!({"action": "replan", "services": []})
        );
        assert_eq!(requests.len(), 3);
        assert_eq!(requests[1].target, "/v1/changes/7/wait?timeout=4.000s");
    }

    #[test]
    fn a_change_error_is_reported_and_old_pebbles_are_polled() {
        let polls = Arc::new(Mutex::new(0));
        let counter = Arc::clone(&polls);
        let responder = Responder::start(move |r| match (r.method.as_str(), r.path()) {
            ("POST", "/v1/services") => accepted("9", None),
            ("GET", "/v1/changes/9/wait") => error(404, "invalid API endpoint requested", None),
            ("GET", "/v1/changes/9") => {
                let mut n = counter.lock().unwrap();
                *n += 1;
                if *n < 3 {
                    sync(json!({"id": "9", "kind": "start", "status": "Doing", "ready": false}))
                } else {
                    sync(done_change(
                        "9",
                        "start",
                        Some("cannot start service: exited quickly"),
                        json!({}),
                    ))
                }
            }
            _ => unexpected(r),
        });
        let mut client = responder.client();
        let err = client
            .service_action(ServiceAction::Start, &["django".to_string()])
            .unwrap_err();
        assert_eq!(
            err,
            PebbleError::Change {
                id: "9".to_string(),
                err: "cannot start service: exited quickly".to_string(),
                tasks: vec![TaskInfo {
                    kind: "start".into(),
                    summary: String::new(),
                    status: "Done".into(),
                }],
                output: None,
            }
        );
        assert_eq!(*polls.lock().unwrap(), 3);
    }

    #[test]
    fn restart_falls_back_to_stop_and_start_on_400() {
        let responder = Responder::start(|r| match (r.method.as_str(), r.path()) {
            ("POST", "/v1/services") => match r.json()["action"].as_str() {
                Some("restart") => error(400, "invalid action \"restart\"", None),
                Some("stop") => accepted("1", None),
                Some("start") => accepted("2", None),
                _ => unexpected(r),
            },
            ("GET", "/v1/services") => sync(json!([
                {"name": "a", "startup": "enabled", "current": "active"},
                {"name": "b", "startup": "enabled", "current": "inactive"},
            ])),
            ("GET", "/v1/changes/1/wait") => sync(done_change("1", "stop", None, json!({}))),
            ("GET", "/v1/changes/2/wait") => sync(done_change("2", "start", None, json!({}))),
            _ => unexpected(r),
        });
        let mut client = responder.client();
        let names = vec!["a".to_string(), "b".to_string()];
        let change = client
            .service_action(ServiceAction::Restart, &names)
            .unwrap();
        assert_eq!(change.id, "2");
        let requests = responder.requests();
        let summary: Vec<String> = requests
            .iter()
            .map(|r| match r.method.as_str() {
                "POST" => format!("POST {}", r.json()),
                _ => format!("GET {}", r.target),
            })
            .collect();
        assert_eq!(
            summary,
            [
                r#"POST {"action":"restart","services":["a","b"]}"#,
                "GET /v1/services?names=a%2Cb",
                r#"POST {"action":"stop","services":["a"]}"#,
                "GET /v1/changes/1/wait?timeout=4.000s",
                r#"POST {"action":"start","services":["a","b"]}"#,
                "GET /v1/changes/2/wait?timeout=4.000s",
            ]
        );
    }

    #[test]
    fn restart_without_names_does_not_fall_back() {
        let responder = Responder::start(|r| match r.path() {
            "/v1/services" if r.method == "POST" => {
                error(400, "must specify services for restart action", None)
            }
            _ => unexpected(r),
        });
        let err = responder
            .client()
            .service_action(ServiceAction::Restart, &[])
            .unwrap_err();
        assert!(matches!(err, PebbleError::Api { status: 400, .. }), "{err}");
        assert_eq!(responder.requests().len(), 1);
    }
}
