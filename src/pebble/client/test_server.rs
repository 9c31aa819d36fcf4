//! A throwaway scripted responder for the client's wire-level tests: each test answers
//! the requests it expects and checks what the client sent. (The full fake Pebble lives
//! in the test harness; this only needs to speak enough HTTP for one exchange, and the
//! websocket handshake for exec.) The reply builders make Pebble's envelopes.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream as StdUnixStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tungstenite::protocol::Role;
use url::Url;

use super::PebbleClient;

pub(super) type ServerWebsocket = tungstenite::WebSocket<StdUnixStream>;

#[derive(Debug, Clone)]
pub(super) struct Recorded {
    pub(super) method: String,
    pub(super) target: String,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: Vec<u8>,
}

impl Recorded {
    pub(super) fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    pub(super) fn query(&self) -> Vec<(String, String)> {
        let url = Url::parse(&format!("http://localhost{}", self.target)).unwrap();
        url.query_pairs().into_owned().collect()
    }

    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

pub(super) enum Reply {
    Http {
        status: u16,
        content_type: String,
        body: Vec<u8>,
    },
    Websocket(Box<dyn FnOnce(&mut ServerWebsocket) + Send>),
}

pub(super) fn reply(status: u16, body: Value) -> Reply {
    Reply::Http {
        status,
        content_type: "application/json".to_string(),
        body: serde_json::to_vec(&body).unwrap(),
    }
}

pub(super) fn sync(result: Value) -> Reply {
    reply(
        200,
        json!({"type": "sync", "status-code": 200, "status": "OK", "result": result}),
    )
}

pub(super) fn accepted(change: &str, result: Option<Value>) -> Reply {
    let mut body =
        json!({"type": "async", "status-code": 202, "status": "Accepted", "change": change});
    if let Some(result) = result {
        body["result"] = result;
    }
    reply(202, body)
}

pub(super) fn error(status: u16, message: &str, kind: Option<&str>) -> Reply {
    let mut result = json!({"message": message});
    if let Some(kind) = kind {
        result["kind"] = json!(kind);
    }
    reply(
        status,
        json!({"type": "error", "status-code": status, "status": "", "result": result}),
    )
}

pub(super) fn done_change(id: &str, kind: &str, err: Option<&str>, data: Value) -> Value {
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

pub(super) struct Responder {
    _dir: tempfile::TempDir,
    socket: PathBuf,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl Responder {
    pub(super) fn start(handler: impl FnMut(&Recorded) -> Reply + Send + 'static) -> Responder {
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

    pub(super) fn client(&self) -> PebbleClient {
        PebbleClient::new(self.socket.clone()).unwrap()
    }

    pub(super) fn requests(&self) -> Vec<Recorded> {
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
                let mut websocket = ServerWebsocket::from_raw_socket(stream, Role::Server, None);
                run(&mut websocket);
                return;
            }
        }
    }
}

pub(super) fn unexpected(request: &Recorded) -> Reply {
    error(
        500,
        &format!("unexpected {} {}", request.method, request.target),
        None,
    )
}
