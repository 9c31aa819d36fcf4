//! The real [`Pebble`]: Pebble's HTTP API over the workload container's unix socket
//! (`CONTRACT.md` D, E, F).
//!
//! The charm is a short-lived, single-threaded program, so the client is synchronous on
//! the outside and holds its own current-thread tokio runtime, `block_on`-ing async
//! reqwest calls and, for exec, tokio-tungstenite websockets on fresh unix connections.
//! Behaviour mirrors the Python `ops` client where the contract is silent: 5 s per
//! request, long-poll change waits one second shorter than that, and the same fallbacks
//! for old Pebble versions (polling changes, restart as stop + start).

use std::convert::Infallible;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio::net::UnixStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use url::Url;

use super::multipart;
use super::{
    Change, CheckInfo, ExecOutput, ExecRequest, FileInfo, FileOwnership, Layer, MakeDirOptions,
    Pebble, PebbleError, Plan, PushOptions, Result, ServiceAction, ServiceInfo, SystemInfo,
};

/// Per-request timeout (ops' default).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long service actions wait for their change (ops' default).
const CHANGE_TIMEOUT: Duration = Duration::from_secs(30);
/// Interval of the polling fallback for Pebbles without `/v1/changes/{id}/wait`.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Pebble fails an exec whose I/O websockets are not all connected within 5 s.
const WEBSOCKET_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Once an exec's change is ready, how long its output may still take to arrive.
const EXEC_OUTPUT_DRAIN: Duration = Duration::from_secs(5);
/// Closing a websocket is a courtesy; never let it hold up the result.
const WEBSOCKET_CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// Size of the binary frames stdin is sent in.
const STDIN_CHUNK: usize = 64 * 1024;
/// The text frame that ends a stream in either direction.
const END_COMMAND: &str = r#"{"command":"end"}"#;

type Websocket = WebSocketStream<UnixStream>;

/// A Pebble client bound to one container's API socket.
pub struct PebbleClient {
    socket: PathBuf,
    base_url: Url,
    http: reqwest::Client,
    runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for PebbleClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PebbleClient")
            .field("socket", &self.socket)
            .finish_non_exhaustive()
    }
}

impl PebbleClient {
    /// A client for the Pebble listening on `socket`. Nothing is connected yet: a missing
    /// socket shows up as [`PebbleError::CannotConnect`] on the first call.
    pub fn new(socket: PathBuf) -> Result<Self> {
        let setup_error = |what: &str, e: &dyn std::error::Error| PebbleError::CannotConnect {
            socket: socket.clone(),
            reason: format!("cannot set up the {what}: {}", error_chain(e)),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| setup_error("async runtime", &e))?;
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let http = reqwest::Client::builder()
            .unix_socket(socket.as_path())
            .default_headers(headers)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| setup_error("HTTP client", &e))?;
        let base_url = Url::parse("http://localhost").map_err(|e| setup_error("base URL", &e))?;
        Ok(PebbleClient {
            socket,
            base_url,
            http,
            runtime,
        })
    }

    /// The client of container `name`, whose socket Juju mounts at
    /// `<containers_dir>/<name>/pebble.socket`.
    pub fn for_container(containers_dir: &Path, name: &str) -> Result<Self> {
        Self::new(containers_dir.join(name).join("pebble.socket"))
    }

    /// The socket this client talks to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    fn cannot_connect(&self, reason: String) -> PebbleError {
        PebbleError::CannotConnect {
            socket: self.socket.clone(),
            reason,
        }
    }

    /// The socket is checked first because a missing socket is the normal state of a
    /// container that is not up yet, and deserves a clear "cannot connect".
    fn check_socket(&self) -> Result<()> {
        match self.socket.try_exists() {
            Ok(true) => Ok(()),
            Ok(false) => Err(self.cannot_connect("socket does not exist".to_string())),
            Err(e) => Err(self.cannot_connect(format!("cannot stat socket: {e}"))),
        }
    }

    /// Send one request and read the whole response, whatever its status.
    async fn send(
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

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Envelope> {
        self.call(Method::GET, path, query, RequestBody::Empty)
            .await
    }

    async fn post(&self, path: &str, body: Value) -> Result<Envelope> {
        self.call(Method::POST, path, &[], RequestBody::Json(body))
            .await
    }

    async fn system_info_async(&self) -> Result<SystemInfo> {
        let envelope = self.get("/v1/system-info", &[]).await?;
        let version = envelope
            .result
            .get("version")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        Ok(SystemInfo { version })
    }

    async fn get_plan_async(&self) -> Result<Plan> {
        let envelope = self.get("/v1/plan", &[("format", "yaml")]).await?;
        let yaml = envelope.result.as_str().ok_or_else(|| {
            PebbleError::Protocol("GET /v1/plan: result is not a YAML string".to_string())
        })?;
        Layer::from_yaml(yaml).map_err(|e| PebbleError::Protocol(format!("GET /v1/plan: {e}")))
    }

    async fn add_layer_async(&self, label: &str, layer: &Layer, combine: bool) -> Result<()> {
        let yaml = layer
            .to_yaml()
            .map_err(|e| PebbleError::Protocol(format!("layer {label:?}: {e}")))?;
        let body = json!({
            "action": "add",
            "combine": combine,
            "label": label,
            "format": "yaml",
            "layer": yaml,
        });
        self.post("/v1/layers", body).await?;
        Ok(())
    }

    async fn services_async(&self, names: &[String]) -> Result<Vec<ServiceInfo>> {
        let joined = names.join(",");
        let query: &[(&str, &str)] = if names.is_empty() {
            &[]
        } else {
            &[("names", joined.as_str())]
        };
        let envelope = self.get("/v1/services", query).await?;
        let entries: Vec<ServiceJson> = decode_result("GET /v1/services", envelope.result)?;
        Ok(entries
            .into_iter()
            .map(|s| ServiceInfo {
                name: s.name,
                startup: s.startup,
                current: s.current,
            })
            .collect())
    }

    async fn service_action_async(
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
    async fn wait_change(&self, id: &str, timeout: Option<Duration>) -> Result<ChangeJson> {
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

    async fn push_async(&self, path: &str, content: &[u8], options: &PushOptions) -> Result<()> {
        let mut file = Map::new();
        file.insert("path".into(), json!(path));
        if options.make_dirs {
            file.insert("make-dirs".into(), json!(true));
        }
        insert_ownership(&mut file, path, &options.ownership)?;
        let request = json!({"action": "write", "files": [file]});
        let request = serde_json::to_vec(&request).map_err(|e| {
            PebbleError::Protocol(format!("POST /v1/files: cannot encode request: {e}"))
        })?;
        let boundary = multipart::new_boundary()?;
        let bytes = multipart::write_files_body(&boundary, &request, &[(path, content)]);
        let raw = self
            .send(
                Method::POST,
                "/v1/files",
                &[],
                RequestBody::Multipart { boundary, bytes },
                None,
            )
            .await?;
        let envelope = decode_envelope(&raw.what, raw.status, &raw.body)?;
        check_path_results(&raw.what, &envelope.result)
    }

    async fn pull_async(&self, path: &str) -> Result<Vec<u8>> {
        let raw = self
            .send(
                Method::GET,
                "/v1/files",
                &[("action", "read"), ("path", path)],
                RequestBody::Empty,
                // Pebble insists on exactly this value.
                Some("multipart/form-data"),
            )
            .await?;
        let what = &raw.what;
        if !raw.status.is_success() {
            // Errors before any file was read (bad request, auth) come as a JSON envelope.
            decode_envelope(what, raw.status, &raw.body)?;
            return Err(PebbleError::Protocol(format!(
                "{what}: HTTP {} without an error",
                raw.status.as_u16()
            )));
        }
        let boundary =
            multipart::boundary_from_content_type(&raw.content_type).ok_or_else(|| {
                PebbleError::Protocol(format!(
                    "{what}: expected a multipart response, got {:?}",
                    raw.content_type
                ))
            })?;
        let parts = multipart::parse(&boundary, &raw.body)?;
        let (responses, files): (Vec<_>, Vec<_>) = parts
            .into_iter()
            .filter(|p| matches!(p.name().as_deref(), Some("response" | "files")))
            .partition(|p| p.name().as_deref() == Some("response"));
        let response = responses.first().ok_or_else(|| {
            PebbleError::Protocol(format!("{what}: no \"response\" part in the answer"))
        })?;
        let envelope = decode_envelope(what, raw.status, &response.body)?;
        check_path_results(what, &envelope.result)?;
        let mut files = files.into_iter();
        match (files.next(), files.next()) {
            (Some(file), None) if file.filename().as_deref() == Some(path) => Ok(file.body),
            (Some(file), None) => Err(PebbleError::Protocol(format!(
                "{what}: asked for {path:?}, got {:?}",
                file.filename()
            ))),
            (None, _) => Err(PebbleError::Protocol(format!(
                "{what}: no content for {path:?}"
            ))),
            (Some(_), Some(_)) => Err(PebbleError::Protocol(format!(
                "{what}: several files for one path {path:?}"
            ))),
        }
    }

    async fn list_files_async(
        &self,
        path: &str,
        pattern: Option<&str>,
        itself: bool,
    ) -> Result<Vec<FileInfo>> {
        let mut query = vec![("action", "list"), ("path", path)];
        if let Some(pattern) = pattern {
            query.push(("pattern", pattern));
        }
        if itself {
            query.push(("itself", "true"));
        }
        let envelope = self.get("/v1/files", &query).await?;
        let entries: Vec<FileInfoJson> = decode_result("GET /v1/files", envelope.result)?;
        Ok(entries
            .into_iter()
            .map(|f| FileInfo {
                path: f.path,
                name: f.name,
                kind: f.kind,
                size: f.size,
                permissions: f.permissions,
                user: f.user,
                group: f.group,
            })
            .collect())
    }

    async fn make_dir_async(&self, path: &str, options: &MakeDirOptions) -> Result<()> {
        let mut dir = Map::new();
        dir.insert("path".into(), json!(path));
        if options.make_parents {
            dir.insert("make-parents".into(), json!(true));
        }
        insert_ownership(&mut dir, path, &options.ownership)?;
        let envelope = self
            .post("/v1/files", json!({"action": "make-dirs", "dirs": [dir]}))
            .await?;
        check_path_results("POST /v1/files", &envelope.result)
    }

    async fn remove_path_async(&self, path: &str, recursive: bool) -> Result<()> {
        let mut entry = Map::new();
        entry.insert("path".into(), json!(path));
        if recursive {
            entry.insert("recursive".into(), json!(true));
        }
        let envelope = self
            .post("/v1/files", json!({"action": "remove", "paths": [entry]}))
            .await?;
        check_path_results("POST /v1/files", &envelope.result)
    }

    async fn exec_async(&self, request: &ExecRequest) -> Result<ExecOutput> {
        let body = json!({
            "command": request.command,
            "service-context": null,
            "environment": request.environment,
            "working-dir": request.working_dir,
            "timeout": request.timeout.map(format_duration),
            "user-id": null,
            "user": request.user,
            "group-id": null,
            "group": request.group,
            "split-stderr": request.split_stderr,
        });
        let envelope = self.post("/v1/exec", body).await?;
        let change_id = change_id("POST /v1/exec", &envelope)?;
        let task_id = envelope
            .result
            .get("task-id")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                PebbleError::Protocol("POST /v1/exec: no task-id in the result".to_string())
            })?
            .to_string();
        // A little more than the command's own timeout, so that Pebble's kill and its
        // change error arrive before we give up.
        let wait_timeout = request.timeout.map(|t| t + Duration::from_secs(1));

        let mut sockets = match self.connect_exec(&task_id, request.split_stderr).await {
            Ok(sockets) => sockets,
            Err(reason) => {
                // Usually the command failed to start and Pebble already ended the
                // change; its error says more than the handshake's. Otherwise Pebble fails
                // the exec itself 5 s after it started waiting for our websockets.
                let change = self.wait_change(&change_id, Some(CHANGE_TIMEOUT)).await?;
                change.into_result()?;
                return Err(self.cannot_connect(format!(
                    "cannot connect the websockets of exec task {task_id}: {reason}"
                )));
            }
        };

        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        let (change, streams) = {
            let streams = pump_exec_streams(
                &request.stdin,
                &mut sockets.stdio,
                sockets.stderr.as_mut(),
                &mut stdout,
                &mut stderr,
            );
            let change = self.wait_change(&change_id, wait_timeout);
            tokio::pin!(streams, change);
            tokio::select! {
                streams_result = &mut streams => (change.await, Some(streams_result)),
                // Output normally ends before the change does; if something still holds
                // the process's stdout open, don't wait for it forever.
                change_result = &mut change => (
                    change_result,
                    tokio::time::timeout(EXEC_OUTPUT_DRAIN, &mut streams).await.ok(),
                ),
            }
        };
        sockets.close().await;

        let change = change?;
        let exit_code = change.exit_code();
        change.into_result()?;
        match streams {
            Some(Ok(())) => {}
            Some(Err(reason)) => {
                return Err(PebbleError::Protocol(format!(
                    "exec task {task_id}: output stream failed: {reason}"
                )));
            }
            None => tracing::warn!(
                %task_id,
                "exec output did not end {}s after the command finished; keeping what arrived",
                EXEC_OUTPUT_DRAIN.as_secs()
            ),
        }
        Ok(ExecOutput {
            exit_code,
            stdout,
            stderr,
        })
    }

    /// Open the exec websockets in the order ops does: control, stdio, then stderr when
    /// it is separate. Each runs on its own unix connection.
    async fn connect_exec(
        &self,
        task_id: &str,
        split_stderr: bool,
    ) -> std::result::Result<ExecSockets, String> {
        let control = self.connect_websocket(task_id, "control").await?;
        let stdio = self.connect_websocket(task_id, "stdio").await?;
        let stderr = if split_stderr {
            Some(self.connect_websocket(task_id, "stderr").await?)
        } else {
            None
        };
        Ok(ExecSockets {
            control,
            stdio,
            stderr,
        })
    }

    async fn connect_websocket(
        &self,
        task_id: &str,
        name: &str,
    ) -> std::result::Result<Websocket, String> {
        let url = format!("ws://localhost/v1/tasks/{task_id}/websocket/{name}");
        let connect = async {
            let stream = UnixStream::connect(&self.socket)
                .await
                .map_err(|e| format!("{name}: {e}"))?;
            let (websocket, _) = tokio_tungstenite::client_async(url.as_str(), stream)
                .await
                .map_err(|e| format!("{name}: {}", error_chain(&e)))?;
            Ok(websocket)
        };
        tokio::time::timeout(WEBSOCKET_CONNECT_TIMEOUT, connect)
            .await
            .map_err(|_| format!("{name}: handshake timed out"))?
    }

    async fn send_signal_async(&self, signal: &str, services: &[String]) -> Result<()> {
        self.post(
            "/v1/signals",
            json!({"signal": signal, "services": services}),
        )
        .await?;
        Ok(())
    }

    async fn checks_async(&self, level: Option<&str>, names: &[String]) -> Result<Vec<CheckInfo>> {
        let mut query: Vec<(&str, &str)> = Vec::new();
        if let Some(level) = level {
            query.push(("level", level));
        }
        query.extend(names.iter().map(|n| ("names", n.as_str())));
        let envelope = self.get("/v1/checks", &query).await?;
        let entries: Vec<CheckJson> = decode_result("GET /v1/checks", envelope.result)?;
        Ok(entries.into_iter().map(CheckJson::into_info).collect())
    }
}

impl Pebble for PebbleClient {
    fn system_info(&mut self) -> Result<SystemInfo> {
        self.block_on(self.system_info_async())
    }

    fn get_plan(&mut self) -> Result<Plan> {
        self.block_on(self.get_plan_async())
    }

    fn add_layer(&mut self, label: &str, layer: &Layer, combine: bool) -> Result<()> {
        self.block_on(self.add_layer_async(label, layer, combine))
    }

    fn services(&mut self, names: &[String]) -> Result<Vec<ServiceInfo>> {
        self.block_on(self.services_async(names))
    }

    fn service_action(&mut self, action: ServiceAction, names: &[String]) -> Result<Change> {
        self.block_on(self.service_action_async(action, names))
    }

    fn push(&mut self, path: &str, content: &[u8], options: &PushOptions) -> Result<()> {
        self.block_on(self.push_async(path, content, options))
    }

    fn pull(&mut self, path: &str) -> Result<Vec<u8>> {
        self.block_on(self.pull_async(path))
    }

    fn list_files(
        &mut self,
        path: &str,
        pattern: Option<&str>,
        itself: bool,
    ) -> Result<Vec<FileInfo>> {
        self.block_on(self.list_files_async(path, pattern, itself))
    }

    fn make_dir(&mut self, path: &str, options: &MakeDirOptions) -> Result<()> {
        self.block_on(self.make_dir_async(path, options))
    }

    fn remove_path(&mut self, path: &str, recursive: bool) -> Result<()> {
        self.block_on(self.remove_path_async(path, recursive))
    }

    fn exec(&mut self, request: &ExecRequest) -> Result<ExecOutput> {
        self.block_on(self.exec_async(request))
    }

    fn send_signal(&mut self, signal: &str, services: &[String]) -> Result<()> {
        self.block_on(self.send_signal_async(signal, services))
    }

    fn checks(&mut self, level: Option<&str>, names: &[String]) -> Result<Vec<CheckInfo>> {
        self.block_on(self.checks_async(level, names))
    }
}

enum RequestBody {
    Empty,
    Json(Value),
    Multipart { boundary: String, bytes: Vec<u8> },
}

struct RawResponse {
    /// `METHOD /path`, for error messages.
    what: String,
    status: StatusCode,
    content_type: String,
    body: Vec<u8>,
}

/// Pebble's response envelope (E.1). `result` is absent on most async responses.
#[derive(Debug, Deserialize)]
struct Envelope {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(rename = "status-code", default)]
    status_code: Option<u16>,
    #[serde(default)]
    change: Option<String>,
    #[serde(default)]
    result: Value,
}

/// The envelope of a response, or the [`PebbleError::Api`] it carries. The body is read
/// on every status because Pebble explains its 4xx/5xx in it.
fn decode_envelope(what: &str, status: StatusCode, body: &[u8]) -> Result<Envelope> {
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

fn decode_result<T: serde::de::DeserializeOwned>(what: &str, result: Value) -> Result<T> {
    serde_json::from_value(result)
        .map_err(|e| PebbleError::Protocol(format!("{what}: unexpected result: {e}")))
}

fn change_id(what: &str, envelope: &Envelope) -> Result<String> {
    envelope
        .change
        .clone()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| PebbleError::Protocol(format!("{what}: no change id in the response")))
}

/// The per-path results of the files API: the first entry with an `error` becomes
/// [`PebbleError::Path`].
fn check_path_results(what: &str, result: &Value) -> Result<()> {
    let entries: Vec<PathResultJson> = decode_result(what, result.clone())?;
    match entries
        .into_iter()
        .find_map(|e| e.error.map(|err| (e.path, err)))
    {
        Some((path, error)) => Err(PebbleError::Path {
            path,
            kind: error
                .kind
                .unwrap_or_else(|| "generic-file-error".to_string()),
            message: error.message,
        }),
        None => Ok(()),
    }
}

/// Add `permissions`, `user-id`, `user`, `group-id`, `group` to a files API entry, only
/// those that are set.
fn insert_ownership(
    entry: &mut Map<String, Value>,
    path: &str,
    ownership: &FileOwnership,
) -> Result<()> {
    if let Some(permissions) = &ownership.permissions {
        entry.insert(
            "permissions".into(),
            json!(normalise_permissions(path, permissions)?),
        );
    }
    if let Some(user_id) = ownership.user_id {
        entry.insert("user-id".into(), json!(user_id));
    }
    if let Some(user) = &ownership.user {
        entry.insert("user".into(), json!(user));
    }
    if let Some(group_id) = ownership.group_id {
        entry.insert("group-id".into(), json!(group_id));
    }
    if let Some(group) = &ownership.group {
        entry.insert("group".into(), json!(group));
    }
    Ok(())
}

/// Pebble accepts exactly three octal digits; callers may reasonably write `"0644"` or
/// `"44"`, so any octal mode up to 0o777 is rewritten into that form.
fn normalise_permissions(path: &str, permissions: &str) -> Result<String> {
    let valid = !permissions.is_empty() && permissions.bytes().all(|b| (b'0'..=b'7').contains(&b));
    match u32::from_str_radix(permissions, 8) {
        Ok(mode) if valid && mode <= 0o777 => Ok(format!("{mode:03o}")),
        _ => Err(PebbleError::Path {
            path: path.to_string(),
            kind: "generic-file-error".to_string(),
            message: format!("permissions must be an octal mode up to 777, got {permissions:?}"),
        }),
    }
}

/// A duration as ops writes it for Pebble (Go `ParseDuration` syntax): seconds with
/// three decimals, e.g. `"4.000s"`.
pub(crate) fn format_duration(duration: Duration) -> String {
    format!("{:.3}s", duration.as_secs_f64())
}

fn remaining(deadline: Option<Instant>) -> Option<Duration> {
    deadline.map(|d| d.saturating_duration_since(Instant::now()))
}

fn change_timeout(id: &str, timeout: Option<Duration>) -> PebbleError {
    let after = timeout.map_or_else(String::new, |t| format!(" after {}", format_duration(t)));
    PebbleError::Timeout(format!("change {id} was not ready{after}"))
}

/// An error with its sources, since reqwest's and tungstenite's top-level messages
/// ("error sending request") hide the cause.
fn error_chain(error: &dyn std::error::Error) -> String {
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

#[derive(Debug, Deserialize)]
struct ChangeJson {
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
    data: Map<String, Value>,
}

impl ChangeJson {
    /// An exec's exit code lives in its first task's data; -1 when Pebble recorded none
    /// (the command never started, or was killed on timeout).
    fn exit_code(&self) -> i64 {
        self.tasks
            .first()
            .and_then(|t| t.data.get("exit-code"))
            .and_then(Value::as_i64)
            .unwrap_or(-1)
    }

    /// A change succeeded iff it has no `err`.
    fn into_result(self) -> Result<Change> {
        match self.err {
            Some(err) if !err.is_empty() => Err(PebbleError::Change { id: self.id, err }),
            _ => Ok(Change {
                id: self.id,
                kind: self.kind,
                summary: self.summary,
                status: self.status,
            }),
        }
    }
}

#[derive(Debug, Deserialize)]
struct ServiceJson {
    name: String,
    #[serde(default)]
    startup: String,
    #[serde(default)]
    current: String,
}

#[derive(Debug, Deserialize)]
struct CheckJson {
    name: String,
    #[serde(default)]
    level: Option<String>,
    #[serde(default)]
    startup: Option<String>,
    #[serde(default)]
    status: String,
    #[serde(default)]
    failures: u64,
    #[serde(default)]
    threshold: u64,
    #[serde(rename = "change-id", default)]
    change_id: Option<String>,
}

impl CheckJson {
    fn into_info(self) -> CheckInfo {
        // As ops does: a check Pebble knows the startup of but runs no change for is
        // stopped, whatever an older Pebble put in `status`.
        let status = if self.startup.is_some() && self.change_id.is_none() {
            "inactive".to_string()
        } else {
            self.status
        };
        CheckInfo {
            name: self.name,
            level: self.level.unwrap_or_default(),
            status,
            failures: self.failures,
            threshold: self.threshold,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct FileInfoJson {
    path: String,
    #[serde(default)]
    name: String,
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default)]
    permissions: String,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    group: Option<String>,
}

#[derive(Debug, Deserialize)]
struct PathResultJson {
    #[serde(default)]
    path: String,
    #[serde(default)]
    error: Option<PathErrorJson>,
}

#[derive(Debug, Deserialize)]
struct PathErrorJson {
    #[serde(default)]
    message: String,
    #[serde(default)]
    kind: Option<String>,
}

/// The websockets of one exec. `control` carries nothing from us, but must stay open
/// until the command ends: Pebble kills the process if it drops abnormally.
struct ExecSockets {
    control: Websocket,
    stdio: Websocket,
    stderr: Option<Websocket>,
}

impl ExecSockets {
    /// Close all three politely; errors are irrelevant once the change is over (Pebble
    /// has usually closed `control` itself by then).
    async fn close(&mut self) {
        close_quietly(&mut self.stdio).await;
        if let Some(stderr) = self.stderr.as_mut() {
            close_quietly(stderr).await;
        }
        close_quietly(&mut self.control).await;
    }
}

async fn close_quietly(websocket: &mut Websocket) {
    let _ = tokio::time::timeout(WEBSOCKET_CLOSE_TIMEOUT, websocket.close(None)).await;
}

/// Feed `stdin` to the process and collect its output until each stream's `end` frame.
///
/// Sending stdin never holds up the result: a process that exits without reading it
/// leaves Pebble no reason to read more frames, and the send would stall forever.
async fn pump_exec_streams(
    stdin: &[u8],
    stdio: &mut Websocket,
    stderr: Option<&mut Websocket>,
    stdout_buf: &mut Vec<u8>,
    stderr_buf: &mut Vec<u8>,
) -> std::result::Result<(), String> {
    let (mut sink, mut stdio_stream) = stdio.split();
    let send = async move {
        let sent: std::result::Result<(), String> = async {
            for chunk in stdin.chunks(STDIN_CHUNK) {
                sink.send(Message::binary(chunk.to_vec()))
                    .await
                    .map_err(|e| e.to_string())?;
            }
            sink.send(Message::text(END_COMMAND))
                .await
                .map_err(|e| e.to_string())
        }
        .await;
        if let Err(reason) = sent {
            tracing::debug!(%reason, "sending exec stdin stopped early");
        }
        std::future::pending::<Infallible>().await
    };
    let read_stdout = read_stream(&mut stdio_stream, stdout_buf);
    let read_stderr = async {
        match stderr {
            Some(websocket) => read_stream(websocket, stderr_buf).await,
            None => Ok(()),
        }
    };
    let reads = async {
        let (out, err) = tokio::join!(read_stdout, read_stderr);
        out.map_err(|e| format!("stdio: {e}"))?;
        err.map_err(|e| format!("stderr: {e}"))
    };
    tokio::select! {
        result = reads => result,
        never = send => match never {},
    }
}

/// Append binary frames to `buf` until the `{"command":"end"}` text frame (or a close
/// frame; a connection that just drops may have lost output, so that is an error).
async fn read_stream<S>(stream: &mut S, buf: &mut Vec<u8>) -> std::result::Result<(), String>
where
    S: futures_util::Stream<
            Item = std::result::Result<Message, tokio_tungstenite::tungstenite::Error>,
        > + Unpin,
{
    while let Some(message) = stream.next().await {
        match message.map_err(|e| e.to_string())? {
            Message::Binary(bytes) => buf.extend_from_slice(&bytes),
            Message::Text(text) => {
                let command: Value = serde_json::from_str(text.as_str()).unwrap_or(Value::Null);
                if command.get("command").and_then(Value::as_str) == Some("end") {
                    return Ok(());
                }
                tracing::debug!(%text, "ignoring exec websocket text frame");
            }
            Message::Close(_) => return Ok(()),
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
        }
    }
    Err("connection closed before the end of the stream".to_string())
}
