//! A fake Pebble daemon for end-to-end tests: it serves the `CONTRACT.md` subset of
//! Pebble's API on a unix socket over the real wire protocol (HTTP/1.1 with JSON
//! envelopes, multipart file transfers, exec websockets), backed by the same
//! [`PebbleModel`] the unit tests use through `MemoryPebble`.
//!
//! The server is deliberately plain blocking std code, one thread per connection, so it
//! shares nothing with the product's async client except the wire: a client bug cannot
//! be cancelled out by the same bug on this side. The model decides everything; this
//! file only translates between bytes and model calls.
//!
//! ```ignore
//! let fake = FakePebble::start(&dir.join("django-app/pebble.socket"), PebbleModel::new());
//! // ... run the charm with CHARM_CONTAINERS_DIR=dir ...
//! assert_eq!(fake.model().service_status("django"), ServiceStatus::Active);
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use django_charm::pebble::{
    ExecOutput, ExecRequest, FileOwnership, MakeDirOptions, PebbleError, PushOptions,
};
use django_charm::sim::pebble::util::{format_go_duration, parse_go_duration};
use django_charm::sim::pebble::{ExecRun, FsEntry, ModelChange, PebbleModel, parse_service_action};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tungstenite::protocol::Role;
use tungstenite::{Message, WebSocket};

/// How long an exec waits for its I/O websockets (Pebble's own limit).
const WEBSOCKET_WAIT: Duration = Duration::from_secs(5);
/// Bodies larger than this are refused rather than buffered.
const MAX_BODY: usize = 256 * 1024 * 1024;
/// Pebble's minimum multipart boundary length.
const MIN_BOUNDARY: usize = 32;

/// The charm's workload container: the one whose socket the tests serve.
pub const CONTAINER: &str = "django-app";

/// A running fake Pebble. Dropping it stops serving, closes every open connection and
/// removes the socket, like a container going away.
pub struct FakePebble {
    socket_path: PathBuf,
    shared: Arc<Shared>,
    acceptor: Option<thread::JoinHandle<()>>,
}

struct Shared {
    model: Mutex<PebbleModel>,
    /// Signalled (with `model` locked) whenever a change may have become ready.
    change_ready: Condvar,
    execs: Mutex<HashMap<String, ExecSession>>,
    /// Signalled (with `execs` locked) whenever an exec websocket connects.
    exec_wakeup: Condvar,
    stopping: AtomicBool,
    /// A clone of every open connection, to shut them down when the fake stops.
    connections: Mutex<HashMap<u64, UnixStream>>,
    next_connection: AtomicU64,
    boot_id: String,
}

impl FakePebble {
    /// Serve `model` on `socket_path`, creating its parent directories and replacing a
    /// stale socket. Panics if the socket cannot be bound (this is test code).
    pub fn start(socket_path: &Path, model: PebbleModel) -> FakePebble {
        if let Some(parent) = socket_path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        let _ = std::fs::remove_file(socket_path);
        let listener = UnixListener::bind(socket_path)
            .unwrap_or_else(|e| panic!("cannot bind {}: {e}", socket_path.display()));
        let shared = Arc::new(Shared {
            model: Mutex::new(model),
            change_ready: Condvar::new(),
            execs: Mutex::new(HashMap::new()),
            exec_wakeup: Condvar::new(),
            stopping: AtomicBool::new(false),
            connections: Mutex::new(HashMap::new()),
            next_connection: AtomicU64::new(1),
            boot_id: random_hex(16),
        });
        let acceptor_shared = Arc::clone(&shared);
        let acceptor = thread::Builder::new()
            .name("fake-pebble-accept".into())
            .spawn(move || accept_loop(listener, acceptor_shared))
            .unwrap();
        FakePebble {
            socket_path: socket_path.to_path_buf(),
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// Serve `model` as [`CONTAINER`] in a new temporary directory laid out like
    /// `$CHARM_CONTAINERS_DIR` (`<dir>/django-app/pebble.socket`), for tests that talk to
    /// Pebble without a charm. The directory goes with the returned guard: keep it.
    pub fn start_in_temp_dir(model: PebbleModel) -> (tempfile::TempDir, FakePebble) {
        let dir = tempfile::tempdir().unwrap();
        let fake = FakePebble::start(&dir.path().join(CONTAINER).join("pebble.socket"), model);
        (dir, fake)
    }

    pub fn socket_path(&self) -> &Path {
        &self.socket_path
    }

    /// The model, locked: read it to assert, or change it between hooks.
    pub fn model(&self) -> MutexGuard<'_, PebbleModel> {
        lock(&self.shared.model)
    }

    /// Stop serving and hand back the final model (e.g. to restart the "container"
    /// with the same state on a new fake).
    pub fn stop(self) -> PebbleModel {
        let model = self.model().clone();
        drop(self);
        model
    }
}

impl Drop for FakePebble {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // accept() only returns for a connection, so make one. If the socket file is
        // already gone nobody can connect: leave the acceptor parked rather than hang.
        if UnixStream::connect(&self.socket_path).is_ok()
            && let Some(acceptor) = self.acceptor.take()
        {
            let _ = acceptor.join();
        }
        for (_, stream) in lock(&self.shared.connections).drain() {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
        self.shared.exec_wakeup.notify_all();
        self.shared.change_ready.notify_all();
        let _ = std::fs::remove_file(&self.socket_path);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn random_hex(bytes: usize) -> String {
    static FALLBACK: AtomicU64 = AtomicU64::new(0x9e37_79b9_7f4a_7c15);
    let mut buf = vec![0u8; bytes];
    if getrandom::fill(&mut buf).is_err() {
        // Boundaries and boot ids only need to differ within one test run.
        for b in &mut buf {
            let x = FALLBACK.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed);
            *b = (x >> 56) as u8 ^ (std::process::id() as u8);
        }
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------------
// Connections
// ---------------------------------------------------------------------------------

/// A connection that leaves the registry when it is dropped (it may outlive the HTTP
/// handler as a websocket).
struct Tracked {
    stream: UnixStream,
    id: u64,
    shared: Arc<Shared>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        lock(&self.shared.connections).remove(&self.id);
    }
}

impl Read for Tracked {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.read(buf)
    }
}

impl Write for Tracked {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

type Ws = WebSocket<Tracked>;

fn accept_loop(listener: UnixListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let id = shared.next_connection.fetch_add(1, Ordering::SeqCst);
        if let Ok(clone) = stream.try_clone() {
            lock(&shared.connections).insert(id, clone);
        }
        let tracked = Tracked {
            stream,
            id,
            shared: Arc::clone(&shared),
        };
        let shared = Arc::clone(&shared);
        let _ = thread::Builder::new()
            .name(format!("fake-pebble-conn-{id}"))
            .spawn(move || serve_connection(shared, tracked));
    }
}

struct Request {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    keep_alive: bool,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A query parameter's first value ("" when absent, as Go's `Query().Get`).
    fn param(&self, name: &str) -> &str {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Every value of a repeated and/or comma-separated parameter.
    fn list_param(&self, name: &str) -> Vec<String> {
        self.query
            .iter()
            .filter(|(k, _)| k == name)
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .collect()
    }
}

struct Response {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

fn serve_connection(shared: Arc<Shared>, stream: Tracked) {
    let mut reader = BufReader::new(stream);
    loop {
        let request = match read_request(&mut reader) {
            Ok(Some(request)) => request,
            Ok(None) => return,
            Err(e) => {
                let response = error_response(400, &format!("malformed request: {e}"), None);
                let _ = write_response(reader.get_mut(), &response, false);
                return;
            }
        };
        if request.method == "GET" && request.path.starts_with("/v1/tasks/") {
            serve_websocket(&shared, reader, &request);
            return;
        }
        let response = route(&shared, &request);
        if write_response(reader.get_mut(), &response, request.keep_alive).is_err()
            || !request.keep_alive
        {
            return;
        }
    }
}

fn read_line(reader: &mut BufReader<Tracked>) -> io::Result<Option<String>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    while line.ends_with('\n') || line.ends_with('\r') {
        line.pop();
    }
    Ok(Some(line))
}

fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

fn read_request(reader: &mut BufReader<Tracked>) -> io::Result<Option<Request>> {
    let request_line = loop {
        match read_line(reader)? {
            None => return Ok(None),
            Some(line) if line.is_empty() => continue,
            Some(line) => break line,
        }
    };
    let mut words = request_line.split(' ');
    let (Some(method), Some(target), Some(version)) = (words.next(), words.next(), words.next())
    else {
        return Err(invalid(format!("bad request line {request_line:?}")));
    };
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader)?.ok_or_else(|| invalid("connection closed in headers"))?;
        if line.is_empty() {
            break;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| invalid(format!("bad header {line:?}")))?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut request = Request {
        method: method.to_string(),
        path: path.to_string(),
        query: url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect(),
        headers,
        body: Vec::new(),
        keep_alive: false,
    };
    let connection = request
        .header("connection")
        .unwrap_or("")
        .to_ascii_lowercase();
    request.keep_alive = if version == "HTTP/1.0" {
        connection.contains("keep-alive")
    } else {
        !connection.contains("close")
    };
    if request
        .header("expect")
        .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
    {
        reader
            .get_mut()
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    let chunked = request
        .header("transfer-encoding")
        .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
    if chunked {
        loop {
            let line = read_line(reader)?.ok_or_else(|| invalid("connection closed in chunk"))?;
            let size_text = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_text, 16)
                .map_err(|_| invalid(format!("bad chunk size {line:?}")))?;
            if size == 0 {
                // Trailer fields, up to the empty line.
                while let Some(line) = read_line(reader)? {
                    if line.is_empty() {
                        break;
                    }
                }
                break;
            }
            if request.body.len() + size > MAX_BODY {
                return Err(invalid("body too large"));
            }
            let start = request.body.len();
            request.body.resize(start + size, 0);
            reader.read_exact(&mut request.body[start..])?;
            let mut crlf = [0u8; 2];
            reader.read_exact(&mut crlf)?;
        }
    } else if let Some(length) = request.header("content-length") {
        let length: usize = length
            .parse()
            .map_err(|_| invalid(format!("bad content-length {length:?}")))?;
        if length > MAX_BODY {
            return Err(invalid("body too large"));
        }
        request.body.resize(length, 0);
        reader.read_exact(&mut request.body)?;
    }
    Ok(Some(request))
}

/// Go's `http.StatusText` for the codes Pebble uses.
fn status_text(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        504 => "Gateway Timeout",
        _ => "",
    }
}

fn write_response(out: &mut Tracked, response: &Response, keep_alive: bool) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
        response.status,
        status_text(response.status),
        response.content_type,
        response.body.len()
    );
    if !keep_alive {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    out.write_all(head.as_bytes())?;
    out.write_all(&response.body)?;
    out.flush()
}

// ---------------------------------------------------------------------------------
// Envelopes
// ---------------------------------------------------------------------------------

fn json_response(status: u16, body: &Value) -> Response {
    let mut bytes = serde_json::to_vec(body).unwrap_or_default();
    bytes.push(b'\n');
    Response {
        status,
        content_type: "application/json".into(),
        body: bytes,
    }
}

fn sync_response(result: Value) -> Response {
    json_response(
        200,
        &json!({"type": "sync", "status-code": 200, "status": "OK", "result": result}),
    )
}

fn async_response(change: &str, result: Option<Value>) -> Response {
    let mut body =
        json!({"type": "async", "status-code": 202, "status": "Accepted", "change": change});
    if let (Some(result), Some(map)) = (result, body.as_object_mut()) {
        map.insert("result".into(), result);
    }
    json_response(202, &body)
}

fn error_response(status: u16, message: &str, kind: Option<&str>) -> Response {
    let mut result = json!({"message": message});
    if let (Some(kind), Some(map)) = (kind, result.as_object_mut()) {
        map.insert("kind".into(), json!(kind));
    }
    json_response(
        status,
        &json!({
            "type": "error",
            "status-code": status,
            "status": status_text(status),
            "result": result,
        }),
    )
}

fn bad_request(message: &str) -> Response {
    error_response(400, message, None)
}

/// A model error as the envelope Pebble would send.
fn model_error(error: PebbleError) -> Response {
    match error {
        PebbleError::Api {
            status,
            message,
            kind,
            ..
        } => error_response(status, &message, kind.as_deref()),
        PebbleError::Path { kind, message, .. } => error_response(400, &message, Some(&kind)),
        other => error_response(500, &other.to_string(), None),
    }
}

fn file_result(path: &str, outcome: Result<(), PebbleError>) -> Value {
    match outcome {
        Ok(()) => json!({"path": path}),
        Err(PebbleError::Path { kind, message, .. }) => {
            json!({"path": path, "error": {"message": message, "kind": kind}})
        }
        Err(other) => {
            let error = json!({"message": other.to_string(), "kind": "generic-file-error"});
            json!({"path": path, "error": error})
        }
    }
}

fn decode<T: for<'de> Deserialize<'de>>(body: &[u8], prefix: &str) -> Result<T, Response> {
    serde_json::from_slice(body).map_err(|e| bad_request(&format!("{prefix}: {e}")))
}

fn change_json(change: &ModelChange) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), json!(change.id));
    out.insert("kind".into(), json!(change.kind));
    out.insert("summary".into(), json!(change.summary));
    out.insert("status".into(), json!(change.status));
    if !change.tasks.is_empty() {
        let tasks: Vec<Value> = change
            .tasks
            .iter()
            .map(|task| {
                let done = u64::from(task.ready_time.is_some());
                let mut t = Map::new();
                t.insert("id".into(), json!(task.id));
                t.insert("kind".into(), json!(task.kind));
                t.insert("summary".into(), json!(task.summary));
                t.insert("status".into(), json!(task.status));
                if !task.log.is_empty() {
                    t.insert("log".into(), json!(task.log));
                }
                t.insert(
                    "progress".into(),
                    json!({"label": "", "done": done, "total": 1}),
                );
                t.insert("spawn-time".into(), json!(task.spawn_time));
                if let Some(ready) = &task.ready_time {
                    t.insert("ready-time".into(), json!(ready));
                }
                if !task.data.is_empty() {
                    t.insert("data".into(), json!(task.data));
                }
                Value::Object(t)
            })
            .collect();
        out.insert("tasks".into(), Value::Array(tasks));
    }
    out.insert("ready".into(), json!(change.is_ready()));
    if let Some(err) = &change.err {
        out.insert("err".into(), json!(err));
    }
    out.insert("spawn-time".into(), json!(change.spawn_time));
    if let Some(ready) = &change.ready_time {
        out.insert("ready-time".into(), json!(ready));
    }
    Value::Object(out)
}

// ---------------------------------------------------------------------------------
// Routing
// ---------------------------------------------------------------------------------

fn route(shared: &Arc<Shared>, request: &Request) -> Response {
    let segments: Vec<&str> = request.path.trim_start_matches('/').split('/').collect();
    let method = request.method.as_str();
    let allowed: &[&str] = match segments.as_slice() {
        ["v1", "system-info"] | ["v1", "health"] | ["v1", "plan"] | ["v1", "logs"] => &["GET"],
        ["v1", "layers"] | ["v1", "exec"] | ["v1", "signals"] => &["POST"],
        ["v1", "services"] | ["v1", "files"] | ["v1", "changes", _] | ["v1", "notices"] => {
            &["GET", "POST"]
        }
        ["v1", "changes"] | ["v1", "changes", _, "wait"] | ["v1", "checks"] => &["GET"],
        _ => return error_response(404, "invalid API endpoint requested", None),
    };
    if !allowed.contains(&method) {
        return error_response(405, &format!("method {method:?} not allowed"), None);
    }
    match (method, segments.as_slice()) {
        ("GET", ["v1", "system-info"]) => {
            let version = lock(&shared.model).version.clone();
            sync_response(json!({"boot-id": shared.boot_id, "version": version}))
        }
        ("GET", ["v1", "health"]) => sync_response(json!({"healthy": true})),
        ("GET", ["v1", "logs"]) => Response {
            status: 200,
            content_type: "application/x-ndjson".into(),
            body: Vec::new(),
        },
        ("GET", ["v1", "notices"]) => sync_response(json!([])),
        ("POST", ["v1", "notices"]) => bad_request("notices are not modelled by the fake Pebble"),
        ("GET", ["v1", "plan"]) => get_plan(shared, request),
        ("POST", ["v1", "layers"]) => post_layers(shared, request),
        ("GET", ["v1", "services"]) => get_services(shared, request),
        ("POST", ["v1", "services"]) => post_services(shared, request),
        ("GET", ["v1", "changes"]) => get_changes(shared, request),
        ("GET", ["v1", "changes", id]) => get_change(shared, id),
        ("POST", ["v1", "changes", id]) => post_change(shared, id, request),
        ("GET", ["v1", "changes", id, "wait"]) => wait_change(shared, id, request),
        ("GET", ["v1", "files"]) => get_files(shared, request),
        ("POST", ["v1", "files"]) => post_files(shared, request),
        ("POST", ["v1", "exec"]) => post_exec(shared, request),
        ("POST", ["v1", "signals"]) => post_signals(shared, request),
        ("GET", ["v1", "checks"]) => get_checks(shared, request),
        _ => error_response(404, "invalid API endpoint requested", None),
    }
}

fn get_plan(shared: &Shared, request: &Request) -> Response {
    let format = request.param("format");
    if format != "yaml" {
        return bad_request(&format!("invalid format {format:?}"));
    }
    match lock(&shared.model).plan_yaml() {
        Ok(yaml) => sync_response(json!(yaml)),
        Err(e) => model_error(e),
    }
}

fn post_layers(shared: &Shared, request: &Request) -> Response {
    #[derive(Deserialize)]
    struct Payload {
        #[serde(default)]
        action: String,
        #[serde(default)]
        combine: bool,
        #[serde(default)]
        label: String,
        #[serde(default)]
        format: String,
        #[serde(default)]
        layer: String,
    }
    let payload: Payload = match decode(&request.body, "cannot decode request body") {
        Ok(p) => p,
        Err(response) => return response,
    };
    if payload.action != "add" {
        return bad_request(&format!("invalid action {:?}", payload.action));
    }
    if payload.label.is_empty() {
        return bad_request("label must be set");
    }
    if payload.format != "yaml" {
        return bad_request(&format!("invalid format {:?}", payload.format));
    }
    match lock(&shared.model).add_layer_yaml(&payload.label, &payload.layer, payload.combine) {
        Ok(()) => sync_response(json!(true)),
        Err(e) => model_error(e),
    }
}

fn get_services(shared: &Shared, request: &Request) -> Response {
    let model = lock(&shared.model);
    let infos: Vec<Value> = model
        .services(&request.list_param("names"))
        .into_iter()
        .map(|info| {
            let mut out =
                json!({"name": info.name, "startup": info.startup, "current": info.current});
            let since = model
                .services
                .get(&info.name)
                .and_then(|s| s.current_since.clone());
            if let (Some(since), Some(map)) = (since, out.as_object_mut()) {
                map.insert("current-since".into(), json!(since));
            }
            out
        })
        .collect();
    sync_response(Value::Array(infos))
}

fn post_services(shared: &Shared, request: &Request) -> Response {
    #[derive(Deserialize)]
    struct Payload {
        #[serde(default)]
        action: String,
        #[serde(default)]
        services: Option<Vec<String>>,
    }
    let payload: Payload = match decode(&request.body, "cannot decode data from request body") {
        Ok(p) => p,
        Err(response) => return response,
    };
    let services = payload.services.unwrap_or_default();
    let Some(action) = parse_service_action(&payload.action) else {
        // Pebble asks for service names before it looks at the action.
        if services.is_empty() {
            return bad_request(&format!(
                "must specify services for {} action",
                payload.action
            ));
        }
        return bad_request(&format!("invalid action {:?}", payload.action));
    };
    let mut model = lock(&shared.model);
    match model.service_action(action, &services) {
        Ok(change) => {
            shared.change_ready.notify_all();
            async_response(&change, None)
        }
        Err(e) => model_error(e),
    }
}

fn get_changes(shared: &Shared, request: &Request) -> Response {
    let select = match request.param("select") {
        "" => "in-progress",
        other => other,
    };
    if !matches!(select, "all" | "in-progress" | "ready") {
        return bad_request("select should be one of: all,in-progress,ready");
    }
    let model = lock(&shared.model);
    let changes: Vec<Value> = model
        .changes
        .iter()
        .filter(|c| match select {
            "in-progress" => !c.is_ready(),
            "ready" => c.is_ready(),
            _ => true,
        })
        .map(change_json)
        .collect();
    sync_response(Value::Array(changes))
}

fn change_not_found(id: &str) -> Response {
    error_response(404, &format!("cannot find change with id {id:?}"), None)
}

fn get_change(shared: &Shared, id: &str) -> Response {
    match lock(&shared.model).change(id) {
        Some(change) => sync_response(change_json(change)),
        None => change_not_found(id),
    }
}

fn post_change(shared: &Shared, id: &str, request: &Request) -> Response {
    #[derive(Deserialize)]
    struct Payload {
        #[serde(default)]
        action: String,
    }
    let mut model = lock(&shared.model);
    let Some(ready) = model.change(id).map(ModelChange::is_ready) else {
        return change_not_found(id);
    };
    let payload: Payload = match decode(&request.body, "cannot decode data from request body") {
        Ok(p) => p,
        Err(response) => return response,
    };
    if payload.action != "abort" {
        return bad_request(&format!("invalid action {:?}", payload.action));
    }
    if ready {
        return bad_request(&format!("cannot abort change {id} with nothing pending"));
    }
    model.fail_change(id, "change was aborted");
    shared.change_ready.notify_all();
    match model.change(id) {
        Some(change) => sync_response(change_json(change)),
        None => change_not_found(id),
    }
}

fn wait_change(shared: &Shared, id: &str, request: &Request) -> Response {
    let timeout = match request.param("timeout") {
        "" => None,
        text => match parse_go_duration(text) {
            Some(nanos) => Some(nanos),
            None => {
                return bad_request(&format!("invalid timeout: time: invalid duration {text:?}"));
            }
        },
    };
    let deadline = timeout
        .filter(|n| *n > 0)
        .map(|n| Instant::now() + Duration::from_nanos(u64::try_from(n).unwrap_or(u64::MAX)));
    let mut model = lock(&shared.model);
    loop {
        let Some(change) = model.change(id) else {
            return change_not_found(id);
        };
        if change.is_ready() {
            return sync_response(change_json(change));
        }
        if shared.stopping.load(Ordering::SeqCst) {
            return error_response(500, "request cancelled", None);
        }
        // Wake up now and then regardless, to notice the fake stopping.
        let mut slice = Duration::from_millis(200);
        if let Some(deadline) = deadline {
            let now = Instant::now();
            if now >= deadline {
                let after = format_go_duration(timeout.unwrap_or(0));
                return error_response(
                    504,
                    &format!("timed out waiting for change after {after}"),
                    None,
                );
            }
            slice = slice.min(deadline - now);
        }
        model = shared
            .change_ready
            .wait_timeout(model, slice)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
}

fn post_signals(shared: &Shared, request: &Request) -> Response {
    #[derive(Deserialize)]
    struct Payload {
        #[serde(default)]
        signal: String,
        #[serde(default)]
        services: Option<Vec<String>>,
    }
    let payload: Payload = match decode(&request.body, "cannot decode request body") {
        Ok(p) => p,
        Err(response) => return response,
    };
    let services = payload.services.unwrap_or_default();
    match lock(&shared.model).send_signal(&payload.signal, &services) {
        Ok(()) => sync_response(json!(true)),
        Err(e) => model_error(e),
    }
}

fn get_checks(shared: &Shared, request: &Request) -> Response {
    let level = request.param("level");
    let names = request.list_param("names");
    let model = lock(&shared.model);
    let plan = model.plan();
    match model.checks(Some(level), &names) {
        Ok(checks) => {
            let out: Vec<Value> = checks
                .into_iter()
                .map(|check| {
                    let startup = plan
                        .checks
                        .get(&check.name)
                        .and_then(|c| c.startup.clone())
                        .unwrap_or_else(|| "enabled".into());
                    let mut out = json!({
                        "name": check.name,
                        "startup": startup,
                        "status": check.status,
                        "successes": 0,
                        "threshold": check.threshold,
                    });
                    if let Some(map) = out.as_object_mut() {
                        if !check.level.is_empty() {
                            map.insert("level".into(), json!(check.level));
                        }
                        // Pebble runs each active check as a change and names it here;
                        // clients (ops, ours) take a check with a `startup` but no
                        // `change-id` to be stopped, whatever its `status`. Nothing runs
                        // checks in the model, so the id is a stand-in that names no
                        // change of the model.
                        if check.status != "inactive" {
                            map.insert("change-id".into(), json!(format!("check-{}", check.name)));
                        }
                    }
                    out
                })
                .collect();
            sync_response(Value::Array(out))
        }
        Err(e) => model_error(e),
    }
}

// ---------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------

fn get_files(shared: &Shared, request: &Request) -> Response {
    match request.param("action") {
        "read" => {
            let paths = request
                .query
                .iter()
                .filter(|(k, _)| k == "path")
                .map(|(_, v)| v.clone())
                .collect::<Vec<_>>();
            if paths.is_empty() {
                return bad_request("must specify one or more paths");
            }
            if request.header("accept") != Some("multipart/form-data") {
                return bad_request("must accept multipart/form-data");
            }
            read_files(shared, &paths)
        }
        "list" => {
            let path = request.param("path");
            if path.is_empty() {
                return bad_request("must specify path");
            }
            let itself = request.param("itself");
            if !matches!(itself, "" | "true" | "false") {
                return bad_request("itself parameter must be \"true\" or \"false\"");
            }
            let pattern = Some(request.param("pattern")).filter(|p| !p.is_empty());
            match lock(&shared.model).list_entries(path, pattern, itself == "true") {
                Ok(entries) => sync_response(
                    entries
                        .iter()
                        .map(|(full, entry)| file_info_json(full, entry))
                        .collect(),
                ),
                Err(e) => model_error(e),
            }
        }
        other => bad_request(&format!("invalid action {other:?}")),
    }
}

/// One entry of a listing. Ids are known for root and for entries written with ids;
/// otherwise `null`, as Pebble reports an owner it cannot resolve.
fn file_info_json(full: &str, entry: &FsEntry) -> Value {
    let id = |name: &str, id: Option<u32>| match (id, name) {
        (Some(id), _) => json!(id),
        (None, "root") => json!(0),
        (None, _) => Value::Null,
    };
    let name = full
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty())
        .unwrap_or("/");
    let modified = entry.modified.as_deref().unwrap_or("2024-01-01T00:00:00Z");
    let mut out = json!({
        "path": full,
        "name": name,
        "type": if entry.is_dir() { "directory" } else { "file" },
        "permissions": entry.permissions(),
        "last-modified": modified,
        "user-id": id(entry.user_name(), entry.user_id),
        "user": entry.user_name(),
        "group-id": id(entry.group_name(), entry.group_id),
        "group": entry.group_name(),
    });
    if let (false, Some(map)) = (entry.is_dir(), out.as_object_mut()) {
        map.insert("size".into(), json!(entry.content.as_bytes().len()));
    }
    out
}

/// Go's multipart writer quoting of a Content-Disposition parameter.
fn escape_quotes(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

fn read_files(shared: &Shared, paths: &[String]) -> Response {
    let boundary = random_hex(30);
    let mut body = Vec::new();
    let mut results = Vec::new();
    let mut model = lock(&shared.model);
    let mut first = true;
    let mut open_part = |body: &mut Vec<u8>, headers: &str| {
        if !first {
            body.extend_from_slice(b"\r\n");
        }
        first = false;
        body.extend_from_slice(format!("--{boundary}\r\n{headers}\r\n\r\n").as_bytes());
    };
    for path in paths {
        match model.read_file(path) {
            Ok(content) => {
                open_part(
                    &mut body,
                    &format!(
                        "Content-Disposition: form-data; name=\"files\"; filename=\"{}\"\r\n\
                         Content-Type: application/octet-stream",
                        escape_quotes(path)
                    ),
                );
                body.extend_from_slice(&content);
                results.push(json!({"path": path}));
            }
            Err(e) => results.push(file_result(path, Err(e))),
        }
    }
    open_part(
        &mut body,
        "Content-Disposition: form-data; name=\"response\"\r\nContent-Type: application/json",
    );
    let metadata = json!({"type": "sync", "status-code": 200, "status": "OK", "result": results});
    body.extend_from_slice(&serde_json::to_vec(&metadata).unwrap_or_default());
    body.extend_from_slice(format!("\n\r\n--{boundary}--\r\n").as_bytes());
    Response {
        status: 200,
        content_type: format!("multipart/form-data; boundary={boundary}"),
        body,
    }
}

/// A media type and its parameters (`multipart/form-data; boundary="x"`).
fn parse_media_type(text: &str) -> Option<(String, BTreeMap<String, String>)> {
    let mut pieces = split_params(text).into_iter();
    let media = pieces.next()?.trim().to_ascii_lowercase();
    if media.is_empty() || !media.contains('/') {
        return None;
    }
    let mut params = BTreeMap::new();
    for piece in pieces {
        let (key, value) = piece.split_once('=')?;
        params.insert(key.trim().to_ascii_lowercase(), unquote(value.trim()));
    }
    Some((media, params))
}

/// Split on `;` outside quotes.
fn split_params(text: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    let mut escaped = false;
    for c in text.chars() {
        let current = out.last_mut();
        match (c, quoted, escaped) {
            (_, true, true) => {
                escaped = false;
                current.into_iter().for_each(|s| s.push(c));
            }
            ('\\', true, false) => {
                escaped = true;
                current.into_iter().for_each(|s| s.push(c));
            }
            ('"', _, false) => {
                quoted = !quoted;
                current.into_iter().for_each(|s| s.push(c));
            }
            (';', false, _) => out.push(String::new()),
            _ => current.into_iter().for_each(|s| s.push(c)),
        }
    }
    out.into_iter().filter(|s| !s.trim().is_empty()).collect()
}

fn unquote(value: &str) -> String {
    let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else {
        return value.to_string();
    };
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(c);
        }
    }
    out
}

struct Part {
    name: String,
    filename: Option<String>,
    content: Vec<u8>,
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if from > haystack.len() {
        return None;
    }
    haystack[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// Split a multipart body; an error names what was wrong, like Go's reader.
fn parse_multipart(body: &[u8], boundary: &str) -> Result<Vec<Part>, String> {
    let dash = format!("--{boundary}");
    let delimiter = format!("\r\n--{boundary}");
    let mut pos = if body.starts_with(dash.as_bytes()) {
        dash.len()
    } else {
        find(body, delimiter.as_bytes(), 0).ok_or("multipart: NextPart: EOF")? + delimiter.len()
    };
    let mut parts = Vec::new();
    loop {
        if body[pos..].starts_with(b"--") {
            return Ok(parts);
        }
        // Transport padding, then the line break that ends the delimiter line.
        while matches!(body.get(pos), Some(b' ' | b'\t')) {
            pos += 1;
        }
        if !body[pos..].starts_with(b"\r\n") {
            return Err("multipart: NextPart: bad delimiter line".into());
        }
        pos += 2;
        let end = find(body, delimiter.as_bytes(), pos).ok_or("multipart: NextPart: EOF")?;
        let raw = &body[pos..end];
        let (head, content) = match find(raw, b"\r\n\r\n", 0) {
            Some(i) => (&raw[..i], &raw[i + 4..]),
            None if raw.starts_with(b"\r\n") => (&raw[..0], &raw[2..]),
            None => return Err("multipart: malformed MIME header".into()),
        };
        let head = String::from_utf8_lossy(head);
        let mut name = String::new();
        let mut filename = None;
        for line in head.split("\r\n") {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            if key.trim().eq_ignore_ascii_case("content-disposition")
                && let Some((_, params)) = parse_media_type(&format!("x/{}", value.trim()))
            {
                name = params.get("name").cloned().unwrap_or_default();
                filename = params.get("filename").cloned();
            }
        }
        parts.push(Part {
            name,
            filename,
            content: content.to_vec(),
        });
        pos = end + delimiter.len();
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "kebab-case")]
struct Owner {
    permissions: String,
    user_id: Option<u32>,
    user: String,
    group_id: Option<u32>,
    group: String,
}

impl Owner {
    fn ownership(&self) -> FileOwnership {
        let text = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
        FileOwnership {
            permissions: text(&self.permissions),
            user: text(&self.user),
            user_id: self.user_id,
            group: text(&self.group),
            group_id: self.group_id,
        }
    }
}

fn post_files(shared: &Shared, request: &Request) -> Response {
    let content_type = request.header("content-type").unwrap_or("");
    let Some((media, params)) = parse_media_type(content_type) else {
        return bad_request(&format!("invalid Content-Type {content_type:?}"));
    };
    match media.as_str() {
        "multipart/form-data" => {
            let boundary = params.get("boundary").cloned().unwrap_or_default();
            if boundary.len() < MIN_BOUNDARY {
                return bad_request(&format!("invalid boundary {boundary:?}"));
            }
            write_files(shared, &request.body, &boundary)
        }
        "application/json" => {
            #[derive(Deserialize)]
            #[serde(rename_all = "kebab-case")]
            struct Dir {
                path: String,
                #[serde(default)]
                make_parents: bool,
                #[serde(flatten)]
                owner: Owner,
            }
            #[derive(Deserialize)]
            struct RemovePath {
                path: String,
                #[serde(default)]
                recursive: bool,
            }
            #[derive(Deserialize)]
            struct Payload {
                #[serde(default)]
                action: String,
                #[serde(default)]
                dirs: Option<Vec<Dir>>,
                #[serde(default)]
                paths: Option<Vec<RemovePath>>,
            }
            let payload: Payload = match decode(&request.body, "cannot decode request body") {
                Ok(p) => p,
                Err(response) => return response,
            };
            let mut model = lock(&shared.model);
            match payload.action.as_str() {
                "make-dirs" => {
                    let results: Vec<Value> = payload
                        .dirs
                        .unwrap_or_default()
                        .iter()
                        .map(|dir| {
                            let options = MakeDirOptions {
                                make_parents: dir.make_parents,
                                ownership: dir.owner.ownership(),
                            };
                            file_result(&dir.path, model.make_dir(&dir.path, &options))
                        })
                        .collect();
                    sync_response(Value::Array(results))
                }
                "remove" => {
                    let results: Vec<Value> = payload
                        .paths
                        .unwrap_or_default()
                        .iter()
                        .map(|p| file_result(&p.path, model.remove_path(&p.path, p.recursive)))
                        .collect();
                    sync_response(Value::Array(results))
                }
                "write" => bad_request("must use multipart with \"write\" action"),
                other => bad_request(&format!("invalid action {other:?}")),
            }
        }
        other => bad_request(&format!("invalid media type {other:?}")),
    }
}

fn write_files(shared: &Shared, body: &[u8], boundary: &str) -> Response {
    #[derive(Deserialize)]
    #[serde(rename_all = "kebab-case")]
    struct Item {
        path: String,
        #[serde(default)]
        make_dirs: bool,
        #[serde(flatten)]
        owner: Owner,
    }
    #[derive(Deserialize)]
    struct Metadata {
        #[serde(default)]
        action: String,
        #[serde(default)]
        files: Option<Vec<Item>>,
    }
    let parts = match parse_multipart(body, boundary) {
        Ok(parts) => parts,
        Err(e) => return bad_request(&format!("cannot read request metadata: {e}")),
    };
    let mut parts = parts.into_iter();
    let Some(first) = parts.next() else {
        return bad_request("cannot read request metadata: EOF");
    };
    if first.name != "request" {
        return bad_request(&format!(
            "metadata field name must be \"request\", got {:?}",
            first.name
        ));
    }
    let metadata: Metadata = match decode(&first.content, "cannot decode request metadata") {
        Ok(m) => m,
        Err(response) => return response,
    };
    if metadata.action != "write" {
        return bad_request(&format!(
            "multipart action must be \"write\", got {:?}",
            metadata.action
        ));
    }
    let files = metadata.files.unwrap_or_default();
    if files.is_empty() {
        return bad_request("must specify one or more files");
    }
    let mut model = lock(&shared.model);
    let mut outcomes: HashMap<String, Result<(), PebbleError>> = HashMap::new();
    for part in parts {
        if part.name != "files" {
            return bad_request(&format!(
                "field name must be \"files\", got {:?}",
                part.name
            ));
        }
        let path = part.filename.unwrap_or_default();
        let Some(item) = files.iter().find(|f| f.path == path) else {
            return bad_request(&format!("no metadata for path {path:?}"));
        };
        let options = PushOptions {
            make_dirs: item.make_dirs,
            ownership: item.owner.ownership(),
        };
        let outcome = model.write_file(&path, &part.content, &options);
        outcomes.insert(path, outcome);
    }
    let results: Vec<Value> = files
        .iter()
        .map(|item| match outcomes.remove(&item.path) {
            Some(outcome) => file_result(&item.path, outcome),
            None => json!({
                "path": item.path,
                "error": {
                    "message": format!("no file content for path {:?}", item.path),
                    "kind": "generic-file-error",
                },
            }),
        })
        .collect();
    sync_response(Value::Array(results))
}

// ---------------------------------------------------------------------------------
// Exec
// ---------------------------------------------------------------------------------

/// An accepted exec whose websockets are connecting or in use.
struct ExecSession {
    change_id: String,
    request: ExecRequest,
    /// Connected websockets not yet taken by the exec thread.
    sockets: HashMap<String, Ws>,
    connected: HashSet<String>,
    /// The exec thread has taken the I/O sockets (or given up on them).
    started: bool,
    /// The command has exited; a late control socket is closed at once.
    finished: bool,
}

fn post_exec(shared: &Arc<Shared>, request: &Request) -> Response {
    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "kebab-case")]
    struct Payload {
        command: Option<Vec<String>>,
        service_context: Option<String>,
        environment: Option<BTreeMap<String, String>>,
        working_dir: Option<String>,
        timeout: Option<String>,
        user: Option<String>,
        group: Option<String>,
        split_stderr: bool,
    }
    let payload: Payload = match decode(&request.body, "cannot decode request body") {
        Ok(p) => p,
        Err(response) => return response,
    };
    let command = payload.command.unwrap_or_default();
    if command.is_empty() {
        return bad_request("must specify command");
    }
    let timeout = match payload.timeout.as_deref().filter(|t| !t.is_empty()) {
        None => None,
        Some(text) => match parse_go_duration(text) {
            // Pebble takes a zero (or negative) timeout as none.
            Some(nanos) => u64::try_from(nanos)
                .ok()
                .filter(|n| *n > 0)
                .map(Duration::from_nanos),
            None => {
                return bad_request(&format!("invalid timeout: time: invalid duration {text:?}"));
            }
        },
    };
    let mut exec = ExecRequest::new(command);
    exec.environment = payload.environment.unwrap_or_default();
    exec.working_dir = payload.working_dir.filter(|d| !d.is_empty());
    exec.user = payload.user.filter(|u| !u.is_empty());
    exec.group = payload.group.filter(|g| !g.is_empty());
    exec.split_stderr = payload.split_stderr;
    exec.timeout = timeout;

    let mut model = lock(&shared.model);
    // Pebble looks for the program before it resolves the service context.
    if let Err(e) = model.check_executable(&exec.command) {
        return model_error(e);
    }
    if let Some(context) = payload.service_context.as_deref().filter(|c| !c.is_empty())
        && let Err(e) = model.apply_service_context(context, &mut exec)
    {
        return model_error(e);
    }
    if let Err(e) = model.check_exec(&exec) {
        return model_error(e);
    }
    let (change_id, task_id) = model.begin_exec(&exec);
    drop(model);

    let mut environment: BTreeMap<String, String> = BTreeMap::from([
        ("HOME".to_string(), "/root".to_string()),
        ("LANG".to_string(), "C.UTF-8".to_string()),
        (
            "PATH".to_string(),
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        ),
        ("USER".to_string(), "root".to_string()),
    ]);
    environment.extend(exec.environment.clone());
    let working_dir = exec.working_dir.clone().unwrap_or_else(|| "/root".into());
    lock(&shared.execs).insert(
        task_id.clone(),
        ExecSession {
            change_id: change_id.clone(),
            request: exec,
            sockets: HashMap::new(),
            connected: HashSet::new(),
            started: false,
            finished: false,
        },
    );
    let runner_shared = Arc::clone(shared);
    let runner_task = task_id.clone();
    let _ = thread::Builder::new()
        .name(format!("fake-pebble-exec-{task_id}"))
        .spawn(move || run_exec(runner_shared, runner_task));
    async_response(
        &change_id,
        Some(json!({"task-id": task_id, "environment": environment, "working-dir": working_dir})),
    )
}

fn serve_websocket(shared: &Arc<Shared>, mut reader: BufReader<Tracked>, request: &Request) {
    let refuse = |reader: &mut BufReader<Tracked>, response: Response| {
        let _ = write_response(reader.get_mut(), &response, false);
    };
    let segments: Vec<&str> = request.path.trim_start_matches('/').split('/').collect();
    let ["v1", "tasks", task_id, "websocket", which] = segments.as_slice() else {
        return refuse(
            &mut reader,
            error_response(404, "invalid API endpoint requested", None),
        );
    };
    if !matches!(*which, "control" | "stdio" | "stderr") {
        return refuse(
            &mut reader,
            error_response(404, &format!("invalid websocket ID {which:?}"), None),
        );
    }
    let Some(key) = request.header("sec-websocket-key").map(str::to_string) else {
        return refuse(&mut reader, bad_request("websocket upgrade required"));
    };
    {
        let mut execs = lock(&shared.execs);
        let Some(session) = execs.get_mut(*task_id) else {
            return refuse(
                &mut reader,
                error_response(404, &format!("cannot find task with id {task_id:?}"), None),
            );
        };
        if session.connected.contains(*which) {
            return refuse(
                &mut reader,
                bad_request(&format!("websocket {which:?} already connected")),
            );
        }
        let io = *which != "control";
        if io && session.started {
            return refuse(
                &mut reader,
                bad_request(&format!("websocket {which:?} connected too late")),
            );
        }
        // Claimed before the handshake so that a second connection racing this one
        // is refused.
        session.connected.insert(which.to_string());
    }
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let handshake = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    if reader.get_mut().write_all(handshake.as_bytes()).is_err() {
        return;
    }
    let leftover = reader.buffer().to_vec();
    let stream = reader.into_inner();
    let ws = WebSocket::from_partially_read(stream, leftover, Role::Server, None);
    let mut execs = lock(&shared.execs);
    let Some(session) = execs.get_mut(*task_id) else {
        return;
    };
    if session.finished {
        drop(execs);
        let mut ws = ws;
        let _ = ws.close(None);
        while ws.read().is_ok() {}
        return;
    }
    session.sockets.insert(which.to_string(), ws);
    shared.exec_wakeup.notify_all();
}

fn run_exec(shared: Arc<Shared>, task_id: String) {
    let deadline = Instant::now() + WEBSOCKET_WAIT;
    let taken = {
        let mut execs = lock(&shared.execs);
        loop {
            let Some(session) = execs.get_mut(&task_id) else {
                return;
            };
            let split = session.request.split_stderr;
            let ready = session.sockets.contains_key("stdio")
                && (!split || session.sockets.contains_key("stderr"));
            let now = Instant::now();
            if ready || now >= deadline || shared.stopping.load(Ordering::SeqCst) {
                session.started = true;
                if !ready {
                    session.finished = true;
                    session.sockets.clear();
                    break None;
                }
                let stdio = session.sockets.remove("stdio");
                let stderr = session.sockets.remove("stderr");
                break Some((
                    session.change_id.clone(),
                    session.request.clone(),
                    stdio,
                    stderr,
                ));
            }
            execs = shared
                .exec_wakeup
                .wait_timeout(execs, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    };
    let Some((change_id, mut request, Some(mut stdio), stderr)) = taken else {
        let change_id = lock(&shared.execs)
            .get(&task_id)
            .map(|s| s.change_id.clone())
            .unwrap_or_default();
        let mut model = lock(&shared.model);
        model.fail_exec(
            &change_id,
            &format!(
                "exec {task_id}: timeout waiting for websocket connections: \
                 context deadline exceeded"
            ),
        );
        shared.change_ready.notify_all();
        return;
    };
    let mut stderr = stderr;

    // The command starts now; its timeout runs from here.
    let started = Instant::now();
    let stdin = match read_stdin(&mut stdio, request.timeout) {
        Ok(stdin) => stdin,
        Err(StdinError::TimedOut) => {
            // Still waiting for its stdin when the timeout came: killed with nothing
            // written.
            let timeout = request.timeout.unwrap_or_default();
            let run = ExecRun {
                output: ExecOutput {
                    exit_code: -1,
                    ..ExecOutput::default()
                },
                ran_for: timeout,
                timed_out: Some(timeout),
            };
            lock(&shared.model).finish_exec(&change_id, &run);
            shared.change_ready.notify_all();
            finish_sockets(&shared, &task_id, Some(stdio), stderr);
            return;
        }
    };
    request.stdin = stdin;
    let run = lock(&shared.model).run_exec(&request);
    // The command takes its time (until its timeout kills it); then its output, all of
    // it or what it wrote before the kill, ends, and only then does the change.
    sleep_until(&shared, started + run.ran_for);
    let _ = send_stream(&mut stdio, &run.output.stdout);
    if let Some(stderr) = stderr.as_mut() {
        let _ = send_stream(stderr, &run.output.stderr);
    }
    {
        let mut model = lock(&shared.model);
        model.finish_exec(&change_id, &run);
        shared.change_ready.notify_all();
    }
    finish_sockets(&shared, &task_id, Some(stdio), stderr);
}

/// Sleep until `until`, or until the fake stops.
fn sleep_until(shared: &Shared, until: Instant) {
    while !shared.stopping.load(Ordering::SeqCst) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        thread::sleep(left.min(Duration::from_millis(20)));
    }
}

enum StdinError {
    TimedOut,
}

/// Read stdin frames until the client's `end` (or its socket closing).
fn read_stdin(stdio: &mut Ws, timeout: Option<Duration>) -> Result<Vec<u8>, StdinError> {
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut stdin = Vec::new();
    loop {
        if let Some(deadline) = deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(StdinError::TimedOut);
            }
            let _ = stdio.get_ref().stream.set_read_timeout(Some(left));
        }
        match stdio.read() {
            Ok(Message::Binary(bytes)) => stdin.extend_from_slice(&bytes),
            Ok(Message::Text(text)) => {
                let command: Value = serde_json::from_str(text.as_str()).unwrap_or(Value::Null);
                if command.get("command").and_then(Value::as_str) == Some("end") {
                    break;
                }
            }
            Ok(Message::Close(_)) => break,
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(StdinError::TimedOut);
            }
            Err(_) => break,
        }
    }
    let _ = stdio.get_ref().stream.set_read_timeout(None);
    Ok(stdin)
}

/// Send a stream's bytes as binary frames, then the `end` text frame.
fn send_stream(ws: &mut Ws, bytes: &[u8]) -> tungstenite::Result<()> {
    for chunk in bytes.chunks(32 * 1024) {
        ws.send(Message::binary(chunk.to_vec()))?;
    }
    ws.send(Message::text(r#"{"command":"end"}"#))
}

/// After the command: close control (Pebble's signal that the process exited), and
/// keep the I/O sockets open until the client closes them, as Pebble does.
fn finish_sockets(shared: &Arc<Shared>, task_id: &str, stdio: Option<Ws>, stderr: Option<Ws>) {
    let mut leftovers: HashMap<String, Ws> = lock(&shared.execs)
        .get_mut(task_id)
        .map(|s| {
            s.finished = true;
            std::mem::take(&mut s.sockets)
        })
        .unwrap_or_default();
    if let Some(mut control) = leftovers.remove("control") {
        let _ = control.close(None);
        let _ = control
            .get_ref()
            .stream
            .set_read_timeout(Some(Duration::from_secs(2)));
        // Read until the client answers the close (or goes away).
        while control.read().is_ok() {}
    }
    // A stderr socket the exec did not use (split-stderr off) is kept open the same way.
    for mut ws in stdio
        .into_iter()
        .chain(stderr)
        .chain(leftovers.into_values())
    {
        let _ = thread::Builder::new()
            .name("fake-pebble-ws-drain".into())
            .spawn(move || while ws.read().is_ok() {});
    }
}
