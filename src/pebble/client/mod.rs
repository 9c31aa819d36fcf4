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
            // A fresh connection per request, as ops does. The runtime only runs inside
            // `block_on`, so a pooled keep-alive connection never notices Pebble closing
            // it between calls (the daemon restarting with its container); reusing it
            // fails the next request with a broken pipe, reported as "cannot connect"
            // although the new daemon is up. Connecting to a unix socket costs nothing.
            .pool_max_idle_per_host(0)
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

#[cfg(test)]
mod tests {
    //! Wire-level tests against a throwaway scripted responder: each test answers the
    //! requests it expects and checks what the client sent. (The full fake Pebble lives
    //! in the test harness; this only needs to speak enough HTTP for one exchange.)

    use super::*;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::os::unix::net::{UnixListener, UnixStream as StdUnixStream};
    use std::sync::{Arc, Mutex};

    use tungstenite::protocol::Role;

    type ServerWebsocket = tungstenite::WebSocket<StdUnixStream>;

    #[derive(Debug, Clone)]
    struct Recorded {
        method: String,
        target: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    }

    impl Recorded {
        fn path(&self) -> &str {
            self.target.split('?').next().unwrap_or_default()
        }

        fn query(&self) -> Vec<(String, String)> {
            let url = Url::parse(&format!("http://localhost{}", self.target)).unwrap();
            url.query_pairs().into_owned().collect()
        }

        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }

        fn json(&self) -> Value {
            serde_json::from_slice(&self.body).unwrap()
        }
    }

    enum Reply {
        Http {
            status: u16,
            content_type: String,
            body: Vec<u8>,
        },
        Websocket(Box<dyn FnOnce(&mut ServerWebsocket) + Send>),
    }

    fn reply(status: u16, body: Value) -> Reply {
        Reply::Http {
            status,
            content_type: "application/json".to_string(),
            body: serde_json::to_vec(&body).unwrap(),
        }
    }

    fn sync(result: Value) -> Reply {
        reply(
            200,
            json!({"type": "sync", "status-code": 200, "status": "OK", "result": result}),
        )
    }

    fn accepted(change: &str, result: Option<Value>) -> Reply {
        let mut body =
            json!({"type": "async", "status-code": 202, "status": "Accepted", "change": change});
        if let Some(result) = result {
            body["result"] = result;
        }
        reply(202, body)
    }

    fn error(status: u16, message: &str, kind: Option<&str>) -> Reply {
        let mut result = json!({"message": message});
        if let Some(kind) = kind {
            result["kind"] = json!(kind);
        }
        reply(
            status,
            json!({"type": "error", "status-code": status, "status": "", "result": result}),
        )
    }

    fn done_change(id: &str, kind: &str, err: Option<&str>, data: Value) -> Value {
        let mut change = json!({
            "id": id, "kind": kind, "summary": "", "status": if err.is_some() { "Error" } else { "Done" },
            "ready": true, "tasks": [{"id": "1", "kind": kind, "status": "Done", "data": data}],
        });
        if let Some(err) = err {
            change["err"] = json!(err);
        }
        change
    }

    type Handler = Box<dyn FnMut(&Recorded) -> Reply + Send>;

    struct Responder {
        _dir: tempfile::TempDir,
        socket: PathBuf,
        requests: Arc<Mutex<Vec<Recorded>>>,
    }

    impl Responder {
        fn start(handler: impl FnMut(&Recorded) -> Reply + Send + 'static) -> Responder {
            let dir = tempfile::tempdir().unwrap();
            let socket = dir.path().join("pebble.socket");
            let listener = UnixListener::bind(&socket).unwrap();
            let requests = Arc::new(Mutex::new(Vec::new()));
            let handler: Arc<Mutex<Handler>> = Arc::new(Mutex::new(Box::new(handler)));
            let recorded = Arc::clone(&requests);
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    let Ok(stream) = stream else { return };
                    let handler = Arc::clone(&handler);
                    let recorded = Arc::clone(&recorded);
                    std::thread::spawn(move || serve_connection(stream, &handler, &recorded));
                }
            });
            Responder {
                _dir: dir,
                socket,
                requests,
            }
        }

        fn client(&self) -> PebbleClient {
            PebbleClient::new(self.socket.clone()).unwrap()
        }

        fn requests(&self) -> Vec<Recorded> {
            self.requests.lock().unwrap().clone()
        }
    }

    fn serve_connection(
        stream: StdUnixStream,
        handler: &Mutex<Handler>,
        recorded: &Mutex<Vec<Recorded>>,
    ) {
        let mut reader = BufReader::new(stream);
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let mut words = line.split_whitespace();
            let method = words.next().unwrap_or_default().to_string();
            let target = words.next().unwrap_or_default().to_string();
            let mut headers = Vec::new();
            loop {
                let mut header = String::new();
                reader.read_line(&mut header).unwrap();
                let header = header.trim_end();
                if header.is_empty() {
                    break;
                }
                let (k, v) = header.split_once(':').unwrap();
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
            let length = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .map_or(0, |(_, v)| v.parse().unwrap());
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let request = Recorded {
                method,
                target,
                headers,
                body,
            };
            recorded.lock().unwrap().push(request.clone());
            let answer = (handler.lock().unwrap())(&request);
            match answer {
                Reply::Http {
                    status,
                    content_type,
                    body,
                } => {
                    let head = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    );
                    let stream = reader.get_mut();
                    stream.write_all(head.as_bytes()).unwrap();
                    stream.write_all(&body).unwrap();
                }
                Reply::Websocket(run) => {
                    let key = request.header("Sec-WebSocket-Key").unwrap();
                    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
                    let mut stream = reader.into_inner();
                    write!(
                        stream,
                        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
                    )
                    .unwrap();
                    let mut websocket =
                        ServerWebsocket::from_raw_socket(stream, Role::Server, None);
                    run(&mut websocket);
                    return;
                }
            }
        }
    }

    fn unexpected(request: &Recorded) -> Reply {
        error(
            500,
            &format!("unexpected {} {}", request.method, request.target),
            None,
        )
    }

    #[test]
    fn durations_are_formatted_as_ops_does() {
        assert_eq!(format_duration(Duration::from_secs(4)), "4.000s");
        assert_eq!(format_duration(Duration::from_secs(10)), "10.000s");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.500s");
        assert_eq!(format_duration(Duration::from_millis(250)), "0.250s");
        assert_eq!(format_duration(Duration::from_secs(0)), "0.000s");
    }

    #[test]
    fn permissions_are_normalised_to_three_octal_digits() {
        assert_eq!(normalise_permissions("/f", "644").unwrap(), "644");
        assert_eq!(normalise_permissions("/f", "0755").unwrap(), "755");
        assert_eq!(normalise_permissions("/f", "44").unwrap(), "044");
        for bad in ["", "888", "1777", "+644", "rw-"] {
            let err = normalise_permissions("/f", bad).unwrap_err();
            assert!(matches!(err, PebbleError::Path { .. }), "{bad}: {err}");
        }
    }

    #[test]
    fn a_missing_socket_cannot_connect() {
        let dir = tempfile::tempdir().unwrap();
        let mut client = PebbleClient::for_container(dir.path(), "django-app").unwrap();
        assert_eq!(
            client.socket(),
            dir.path().join("django-app").join("pebble.socket")
        );
        let err = client.system_info().unwrap_err();
        assert!(
            matches!(&err, PebbleError::CannotConnect { socket, .. } if socket == client.socket()),
            "{err}"
        );
        assert!(!client.can_connect());
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

    #[test]
    fn system_info_and_plan_are_read() {
        let responder = Responder::start(|r| match r.path() {
            "/v1/system-info" => sync(json!({"boot-id": "x", "version": "v1.19.2"})),
            "/v1/plan" => sync(json!(
                "services:\n    web:\n        startup: enabled\n        override: replace\n        command: /bin/web\n"
            )),
            _ => unexpected(r),
        });
        let mut client = responder.client();
        assert_eq!(client.system_info().unwrap().version, "v1.19.2");
        let plan = client.get_plan().unwrap();
        assert_eq!(plan.services["web"].command.as_deref(), Some("/bin/web"));
        let requests = responder.requests();
        assert_eq!(requests[0].header("accept"), Some("application/json"));
        assert_eq!(requests[0].header("host"), Some("localhost"));
        assert_eq!(requests[1].target, "/v1/plan?format=yaml");
    }

    #[test]
    fn add_layer_sends_yaml_and_maps_error_envelopes() {
        let responder = Responder::start(|r| {
            if r.json()["label"] == "bad" {
                error(
                    400,
                    "layer \"bad\" must define \"override\" for service \"web\"",
                    None,
                )
            } else {
                sync(json!(true))
            }
        });
        let mut client = responder.client();
        let layer =
            Layer::from_yaml("services:\n  web:\n    override: replace\n    command: /bin/web\n")
                .unwrap();
        client.add_layer("django", &layer, true).unwrap();
        let err = client.add_layer("bad", &layer, false).unwrap_err();
        assert_eq!(
            err,
            PebbleError::Api {
                status: 400,
                what: "POST /v1/layers".to_string(),
                message: "layer \"bad\" must define \"override\" for service \"web\"".to_string(),
                kind: None,
            }
        );
        let sent = &responder.requests()[0];
        assert_eq!(sent.method, "POST");
        assert_eq!(sent.header("content-type"), Some("application/json"));
        let body = sent.json();
        assert_eq!(body["action"], "add");
        assert_eq!(body["combine"], true);
        assert_eq!(body["format"], "yaml");
        let sent_layer = Layer::from_yaml(body["layer"].as_str().unwrap()).unwrap();
        assert_eq!(sent_layer, layer);
    }

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
                err: "cannot start service: exited quickly".to_string()
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

    #[test]
    fn push_sends_a_multipart_request_then_the_file() {
        let responder = Responder::start(|r| {
            let boundary =
                multipart::boundary_from_content_type(r.header("content-type").unwrap()).unwrap();
            let parts = multipart::parse(&boundary, &r.body).unwrap();
            let request: Value = serde_json::from_slice(&parts[0].body).unwrap();
            let path = request["files"][0]["path"].as_str().unwrap().to_string();
            if path == "/missing/f" {
                sync(
                    json!([{"path": path, "error": {"message": "open /missing/f: no such file or directory", "kind": "not-found"}}]),
                )
            } else {
                sync(json!([{"path": path}]))
            }
        });
        let mut client = responder.client();
        let options = PushOptions {
            make_dirs: true,
            ownership: FileOwnership {
                permissions: Some("0640".to_string()),
                user: Some("_daemon_".to_string()),
                group: Some("_daemon_".to_string()),
                ..Default::default()
            },
        };
        client
            .push(
                "/django/gunicorn.conf.py",
                b"bind = ['0.0.0.0:8000']\n",
                &options,
            )
            .unwrap();
        let err = client
            .push("/missing/f", b"x", &PushOptions::default())
            .unwrap_err();
        assert!(err.is_not_found(), "{err}");
        assert!(matches!(err, PebbleError::Path { ref path, .. } if path == "/missing/f"));

        let sent = &responder.requests()[0];
        assert_eq!(
            (sent.method.as_str(), sent.target.as_str()),
            ("POST", "/v1/files")
        );
        let content_type = sent.header("content-type").unwrap();
        let boundary = multipart::boundary_from_content_type(content_type).unwrap();
        assert_eq!(
            content_type,
            format!("multipart/form-data; boundary=\"{boundary}\"")
        );
        assert_eq!(boundary.len(), 32);
        let parts = multipart::parse(&boundary, &sent.body).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name().as_deref(), Some("request"));
        assert_eq!(
            serde_json::from_slice::<Value>(&parts[0].body).unwrap(),
            json!({"action": "write", "files": [{
                "path": "/django/gunicorn.conf.py", "make-dirs": true, "permissions": "640",
                "user": "_daemon_", "group": "_daemon_",
            }]})
        );
        assert_eq!(parts[1].name().as_deref(), Some("files"));
        assert_eq!(
            parts[1].filename().as_deref(),
            Some("/django/gunicorn.conf.py")
        );
        assert_eq!(parts[1].body, b"bind = ['0.0.0.0:8000']\n");
    }

    fn read_answer(file: Option<(&str, &[u8])>, result: Value) -> Reply {
        let boundary = "f".repeat(60);
        let mut body = Vec::new();
        if let Some((path, content)) = file {
            body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{path}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes());
            body.extend_from_slice(content);
            body.extend_from_slice(b"\r\n");
        }
        let envelope =
            json!({"type": "sync", "status-code": 200, "status": "OK", "result": result});
        body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"response\"\r\nContent-Type: application/json\r\n\r\n{envelope}\r\n--{boundary}--\r\n").as_bytes());
        Reply::Http {
            status: 200,
            content_type: format!("multipart/form-data; boundary={boundary}"),
            body,
        }
    }

    #[test]
    fn pull_reads_the_file_part_and_per_file_errors() {
        let responder = Responder::start(|r| {
            let path = r.query().into_iter().find(|(k, _)| k == "path").unwrap().1;
            match path.as_str() {
                "/etc/hosts" => read_answer(
                    Some(("/etc/hosts", b"127.0.0.1 localhost\n")),
                    json!([{"path": "/etc/hosts"}]),
                ),
                "/other" => read_answer(Some(("/elsewhere", b"x")), json!([{"path": "/other"}])),
                _ => read_answer(
                    None,
                    json!([{"path": path, "error": {"message": "stat /nope: no such file or directory", "kind": "not-found"}}]),
                ),
            }
        });
        let mut client = responder.client();
        assert_eq!(client.pull("/etc/hosts").unwrap(), b"127.0.0.1 localhost\n");
        let err = client.pull("/nope").unwrap_err();
        assert_eq!(
            err,
            PebbleError::Path {
                path: "/nope".to_string(),
                kind: "not-found".to_string(),
                message: "stat /nope: no such file or directory".to_string(),
            }
        );
        assert!(matches!(
            client.pull("/other"),
            Err(PebbleError::Protocol(_))
        ));
        let sent = &responder.requests()[0];
        assert_eq!(sent.header("accept"), Some("multipart/form-data"));
        assert_eq!(
            sent.query(),
            [
                ("action".to_string(), "read".to_string()),
                ("path".to_string(), "/etc/hosts".to_string())
            ]
        );
    }

    #[test]
    fn list_files_404_is_not_found_and_exists_is_false() {
        let responder = Responder::start(|r| {
            let query = r.query();
            if query.iter().any(|(k, v)| k == "path" && v == "/app") {
                sync(
                    json!([{"path": "/app", "name": "app", "type": "directory", "permissions": "755",
                             "last-modified": "2024-12-27T12:19:27.569602108+08:00", "user-id": 0, "user": "root",
                             "group-id": 0, "group": "root"}]),
                )
            } else {
                error(
                    404,
                    "stat /gone: no such file or directory",
                    Some("not-found"),
                )
            }
        });
        let mut client = responder.client();
        let entries = client.list_files("/app", None, true).unwrap();
        assert_eq!(
            entries,
            [FileInfo {
                path: "/app".to_string(),
                name: "app".to_string(),
                kind: "directory".to_string(),
                size: None,
                permissions: "755".to_string(),
                user: Some("root".to_string()),
                group: Some("root".to_string()),
            }]
        );
        let err = client.list_files("/gone", Some("*.py"), false).unwrap_err();
        assert!(
            matches!(&err, PebbleError::Api { status: 404, what, .. } if what == "GET /v1/files"),
            "{err}"
        );
        assert!(err.is_not_found());
        assert!(!client.exists("/gone").unwrap());
        assert!(client.exists("/app").unwrap());
        let requests = responder.requests();
        assert_eq!(
            requests[0].target,
            "/v1/files?action=list&path=%2Fapp&itself=true"
        );
        assert_eq!(
            requests[1].target,
            "/v1/files?action=list&path=%2Fgone&pattern=*.py"
        );
    }

    #[test]
    fn make_dir_remove_signal_and_checks_send_what_ops_sends() {
        let responder = Responder::start(|r| match (r.method.as_str(), r.path()) {
            ("POST", "/v1/files") => {
                let body = r.json();
                if body["action"] == "remove" {
                    sync(
                        json!([{"path": "/d", "error": {"message": "remove /d: directory not empty", "kind": "generic-file-error"}}]),
                    )
                } else {
                    sync(json!([{"path": "/d"}]))
                }
            }
            ("POST", "/v1/signals") => sync(json!(true)),
            ("GET", "/v1/checks") => sync(json!([
                {"name": "up", "level": "alive", "startup": "enabled", "status": "down", "failures": 2, "threshold": 3, "change-id": "5"},
                {"name": "off", "startup": "disabled", "status": "down", "threshold": 3},
            ])),
            _ => unexpected(r),
        });
        let mut client = responder.client();
        let options = MakeDirOptions {
            make_parents: true,
            ownership: FileOwnership {
                permissions: Some("755".to_string()),
                user_id: Some(584792),
                group_id: Some(584792),
                ..Default::default()
            },
        };
        client.make_dir("/d", &options).unwrap();
        let err = client.remove_path("/d", false).unwrap_err();
        assert!(matches!(err, PebbleError::Path { ref kind, .. } if kind == "generic-file-error"));
        client
            .send_signal("SIGHUP", &["django".to_string()])
            .unwrap();
        let checks = client
            .checks(Some("alive"), &["up".to_string(), "off".to_string()])
            .unwrap();
        assert_eq!(
            checks,
            [
                CheckInfo {
                    name: "up".into(),
                    level: "alive".into(),
                    status: "down".into(),
                    failures: 2,
                    threshold: 3
                },
                CheckInfo {
                    name: "off".into(),
                    level: String::new(),
                    status: "inactive".into(),
                    failures: 0,
                    threshold: 3
                },
            ]
        );

        let requests = responder.requests();
        assert_eq!(
            requests[0].json(),
            json!({"action": "make-dirs", "dirs": [{"path": "/d", "make-parents": true, "permissions": "755", "user-id": 584792, "group-id": 584792}]})
        );
        assert_eq!(
            requests[1].json(),
            json!({"action": "remove", "paths": [{"path": "/d"}]})
        );
        assert_eq!(
            requests[2].json(),
            json!({"signal": "SIGHUP", "services": ["django"]})
        );
        assert_eq!(
            requests[3].target,
            "/v1/checks?level=alive&names=up&names=off"
        );
    }

    /// Serve an exec's stdio socket: read stdin until `end`, then answer `prefix` + stdin.
    fn echo_stdio(prefix: &'static [u8]) -> Reply {
        Reply::Websocket(Box::new(move |ws: &mut ServerWebsocket| {
            let mut stdin = Vec::new();
            loop {
                match ws.read().unwrap() {
                    tungstenite::Message::Binary(bytes) => stdin.extend_from_slice(&bytes),
                    tungstenite::Message::Text(text) => {
                        assert_eq!(text.as_str(), r#"{"command":"end"}"#);
                        break;
                    }
                    other => panic!("unexpected stdin frame {other:?}"),
                }
            }
            let mut out = prefix.to_vec();
            out.extend_from_slice(&stdin);
            ws.send(tungstenite::Message::binary(out)).unwrap();
            ws.send(tungstenite::Message::text(r#"{"command":"end"}"#))
                .unwrap();
            while ws.read().is_ok() {}
        }))
    }

    fn idle_socket() -> Reply {
        Reply::Websocket(Box::new(
            |ws: &mut ServerWebsocket| while ws.read().is_ok() {},
        ))
    }

    fn send_and_end(bytes: &'static [u8]) -> Reply {
        Reply::Websocket(Box::new(move |ws: &mut ServerWebsocket| {
            ws.send(tungstenite::Message::binary(bytes)).unwrap();
            ws.send(tungstenite::Message::text(r#"{"command":"end"}"#))
                .unwrap();
            while ws.read().is_ok() {}
        }))
    }

    #[test]
    fn exec_streams_stdin_and_output_and_reports_the_exit_code() {
        let responder = Responder::start(|r| match (r.method.as_str(), r.path()) {
            ("POST", "/v1/exec") => accepted(
                "51",
                Some(json!({"task-id": "102", "environment": {}, "working-dir": "/"})),
            ),
            ("GET", "/v1/tasks/102/websocket/control") => idle_socket(),
            ("GET", "/v1/tasks/102/websocket/stdio") => echo_stdio(b"got: "),
            ("GET", "/v1/tasks/102/websocket/stderr") => send_and_end(b"warning\n"),
            ("GET", "/v1/changes/51/wait") => {
                sync(done_change("51", "exec", None, json!({"exit-code": 3})))
            }
            _ => unexpected(r),
        });
        let mut client = responder.client();
        let mut request = ExecRequest::new(["python3", "manage.py", "migrate"]);
        request.stdin = b"yes\n".to_vec();
        request.timeout = Some(Duration::from_secs(10));
        request.working_dir = Some("/django/app".to_string());
        request.user = Some("_daemon_".to_string());
        request
            .environment
            .insert("DJANGO_DEBUG".to_string(), "false".to_string());
        let output = client.exec(&request).unwrap();
        assert_eq!(
            output,
            ExecOutput {
                exit_code: 3,
                stdout: b"got: yes\n".to_vec(),
                stderr: b"warning\n".to_vec()
            }
        );

        let requests = responder.requests();
        assert_eq!(
            serde_json::to_string(&requests[0].json()).unwrap(),
            r#"{"command":["python3","manage.py","migrate"],"service-context":null,"environment":{"DJANGO_DEBUG":"false"},"working-dir":"/django/app","timeout":"10.000s","user-id":null,"user":"_daemon_","group-id":null,"group":null,"split-stderr":true}"#
        );
        let websockets: Vec<&str> = requests
            .iter()
            .filter(|r| r.header("upgrade") == Some("websocket"))
            .map(Recorded::path)
            .collect();
        assert_eq!(
            websockets,
            [
                "/v1/tasks/102/websocket/control",
                "/v1/tasks/102/websocket/stdio",
                "/v1/tasks/102/websocket/stderr"
            ]
        );
        let wait = requests
            .iter()
            .find(|r| r.path() == "/v1/changes/51/wait")
            .unwrap();
        assert_eq!(wait.target, "/v1/changes/51/wait?timeout=4.000s");
    }

    #[test]
    fn exec_with_combined_stderr_and_no_stdin_still_sends_end() {
        let responder = Responder::start(|r| match (r.method.as_str(), r.path()) {
            ("POST", "/v1/exec") => accepted("8", Some(json!({"task-id": "16"}))),
            ("GET", "/v1/tasks/16/websocket/control") => idle_socket(),
            ("GET", "/v1/tasks/16/websocket/stdio") => echo_stdio(b"hi\n"),
            ("GET", "/v1/changes/8/wait") => {
                sync(done_change("8", "exec", None, json!({"exit-code": 0})))
            }
            _ => unexpected(r),
        });
        let mut request = ExecRequest::new(["echo", "hi"]);
        request.split_stderr = false;
        let output = responder.client().exec(&request).unwrap();
        assert_eq!(output.stdout, b"hi\n");
        assert!(output.success());
        let requests = responder.requests();
        assert_eq!(requests[0].json()["timeout"], Value::Null);
        assert_eq!(requests[0].json()["split-stderr"], false);
        assert!(!requests.iter().any(|r| r.path().ends_with("/stderr")));
        // No exec timeout: the change is waited for without an overall deadline, still in
        // 4 s slices.
        assert!(
            requests
                .iter()
                .any(|r| r.target == "/v1/changes/8/wait?timeout=4.000s")
        );
    }

    #[test]
    fn exec_reports_the_change_error_when_websockets_fail() {
        let responder = Responder::start(|r| match (r.method.as_str(), r.path()) {
            ("POST", "/v1/exec") => accepted("4", Some(json!({"task-id": "9"}))),
            ("GET", "/v1/tasks/9/websocket/control") => error(404, "task not found", None),
            ("GET", "/v1/changes/4/wait") => sync(done_change(
                "4",
                "exec",
                Some("cannot perform the following tasks:\n- Execute command \"x\" (cannot start)"),
                json!({}),
            )),
            _ => unexpected(r),
        });
        let err = responder
            .client()
            .exec(&ExecRequest::new(["x"]))
            .unwrap_err();
        assert!(
            matches!(&err, PebbleError::Change { id, err } if id == "4" && err.contains("cannot start")),
            "{err}"
        );
    }

    #[test]
    fn exec_errors_before_the_change_are_api_errors() {
        let responder = Responder::start(|_| error(400, "cannot find executable \"nope\"", None));
        let err = responder
            .client()
            .exec(&ExecRequest::new(["nope"]))
            .unwrap_err();
        assert!(
            matches!(&err, PebbleError::Api { status: 400, what, .. } if what == "POST /v1/exec"),
            "{err}"
        );
    }
}
