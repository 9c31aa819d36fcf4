//! One request to Pebble and its answer: building and sending it over the unix socket,
//! reading Pebble's JSON envelope (`CONTRACT.md` E.1) into a result or a
//! [`PebbleError::Api`], and turning what fails below HTTP into "cannot connect" or a
//! timeout. Every other concern of the client goes through here, so the rules for
//! reading an answer (the body is read on every status, a non-JSON error still gets a
//! message) are written once.

use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::Value;

use super::PebbleClient;
use crate::pebble::multipart;
use crate::pebble::{PebbleError, Result};

impl PebbleClient {
    /// Send one request and read the whole response, whatever its status.
    pub(super) async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: RequestBody,
        accept: Option<&'static str>,
    ) -> Result<RawResponse> {
        let what = format!("{method} {path}");
        self.check_socket()?;
        let mut url = self.base_url.clone();
        url.set_path(path);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let mut request = self.http.request(method, url);
        if let Some(accept) = accept {
            request = request.header(ACCEPT, accept);
        }
        request = match body {
            RequestBody::Empty => request,
            RequestBody::Json(value) => {
                let bytes = serde_json::to_vec(&value).map_err(|e| {
                    PebbleError::Protocol(format!("{what}: cannot encode request: {e}"))
                })?;
                request.header(CONTENT_TYPE, "application/json").body(bytes)
            }
            RequestBody::Multipart { boundary, bytes } => request
                .header(CONTENT_TYPE, multipart::content_type(&boundary))
                .body(bytes),
        };
        let response = request
            .send()
            .await
            .map_err(|e| self.transport_error(&what, &e))?;
        let status = response.status();
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(&what, &e))?
            .to_vec();
        Ok(RawResponse {
            what,
            status,
            content_type,
            body,
        })
    }

    /// Like ops, any failure below HTTP (refused, reset, closed early) means "cannot
    /// connect", except a timeout, which is worth telling apart.
    fn transport_error(&self, what: &str, e: &reqwest::Error) -> PebbleError {
        if e.is_timeout() {
            PebbleError::Timeout(format!("{what}: {}", error_chain(e)))
        } else {
            self.cannot_connect(format!("{what}: {}", error_chain(e)))
        }
    }

    /// A JSON API call: the sync or async envelope on success, the envelope's error as
    /// [`PebbleError::Api`] otherwise.
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: RequestBody,
    ) -> Result<Envelope> {
        let raw = self.send(method, path, query, body, None).await?;
        decode_envelope(&raw.what, raw.status, &raw.body)
    }

    pub(super) async fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Envelope> {
        self.call(Method::GET, path, query, RequestBody::Empty)
            .await
    }

    pub(super) async fn post(&self, path: &str, body: Value) -> Result<Envelope> {
        self.call(Method::POST, path, &[], RequestBody::Json(body))
            .await
    }
}

pub(super) enum RequestBody {
    Empty,
    Json(Value),
    Multipart { boundary: String, bytes: Vec<u8> },
}

pub(super) struct RawResponse {
    /// `METHOD /path`, for error messages.
    pub(super) what: String,
    pub(super) status: StatusCode,
    pub(super) content_type: String,
    pub(super) body: Vec<u8>,
}

/// Pebble's response envelope (E.1). `result` is absent on most async responses.
#[derive(Debug, Deserialize)]
pub(super) struct Envelope {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(rename = "status-code", default)]
    status_code: Option<u16>,
    #[serde(default)]
    change: Option<String>,
    #[serde(default)]
    pub(super) result: Value,
}

/// The envelope of a response, or the [`PebbleError::Api`] it carries. The body is read
/// on every status because Pebble explains its 4xx/5xx in it.
pub(super) fn decode_envelope(what: &str, status: StatusCode, body: &[u8]) -> Result<Envelope> {
    let parsed = serde_json::from_slice::<Envelope>(body);
    match parsed {
        Ok(envelope) if status.is_success() && envelope.kind != "error" => Ok(envelope),
        Ok(envelope) => {
            let message = envelope
                .result
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| fallback_message(status, body));
            let kind = envelope
                .result
                .get("kind")
                .and_then(Value::as_str)
                .map(str::to_string);
            let status = if status.is_success() {
                envelope.status_code.unwrap_or(status.as_u16())
            } else {
                status.as_u16()
            };
            Err(PebbleError::Api {
                status,
                what: what.to_string(),
                message,
                kind,
            })
        }
        Err(_) if !status.is_success() => Err(PebbleError::Api {
            status: status.as_u16(),
            what: what.to_string(),
            message: fallback_message(status, body),
            kind: None,
        }),
        Err(e) => Err(PebbleError::Protocol(format!(
            "{what}: response is not a JSON envelope: {e}"
        ))),
    }
}

/// Something readable for an error without a JSON message: the start of the body, or
/// the status text.
fn fallback_message(status: StatusCode, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("no message")
            .to_string()
    } else {
        text.chars().take(200).collect()
    }
}

pub(super) fn decode_result<T: serde::de::DeserializeOwned>(
    what: &str,
    result: Value,
) -> Result<T> {
    serde_json::from_value(result)
        .map_err(|e| PebbleError::Protocol(format!("{what}: unexpected result: {e}")))
}

pub(super) fn change_id(what: &str, envelope: &Envelope) -> Result<String> {
    envelope
        .change
        .clone()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| PebbleError::Protocol(format!("{what}: no change id in the response")))
}

/// A duration as ops writes it for Pebble (Go `ParseDuration` syntax): seconds with
/// three decimals, e.g. `"4.000s"`.
pub(super) fn format_duration(duration: Duration) -> String {
    format!("{:.3}s", duration.as_secs_f64())
}

/// An error with its sources, since reqwest's and tungstenite's top-level messages
/// ("error sending request") hide the cause.
pub(super) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        let message = inner.to_string();
        if !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        source = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    //! Transport-level behaviour: the duration syntax Pebble parses, and a socket
    //! nobody listens on.

    use super::*;
    use crate::pebble::Pebble;
    use std::os::unix::net::UnixListener;

    #[test]
    fn durations_are_formatted_as_ops_does() {
        assert_eq!(format_duration(Duration::from_secs(4)), "4.000s");
        assert_eq!(format_duration(Duration::from_secs(10)), "10.000s");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.500s");
        assert_eq!(format_duration(Duration::from_millis(250)), "0.250s");
        assert_eq!(format_duration(Duration::from_secs(0)), "0.000s");
    }

    #[test]
    fn a_stale_socket_cannot_connect() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("pebble.socket");
        drop(UnixListener::bind(&socket).unwrap());
        let mut client = PebbleClient::new(socket).unwrap();
        let err = client.get_plan().unwrap_err();
        assert!(matches!(err, PebbleError::CannotConnect { .. }), "{err}");
    }
}
