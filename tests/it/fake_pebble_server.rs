//! Tests of the fake Pebble server itself, spoken to in raw HTTP over a unix socket (and
//! with a plain websocket client for exec), so that its wire format is checked
//! independently of the product's client.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use django_charm::sim::pebble::{ExecRule, PebbleModel, PebbleOp, ServiceStatus};
use serde_json::{Value, json};
use tungstenite::Message;

use crate::harness::fake_pebble::FakePebble;

/// One keep-alive HTTP/1.1 connection.
struct Connection {
    reader: BufReader<UnixStream>,
}

struct RawResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
}

impl Connection {
    fn open(socket: &Path) -> Connection {
        let stream = UnixStream::connect(socket).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        Connection {
            reader: BufReader::new(stream),
        }
    }

    fn send_raw(&mut self, head: &str, body: &[u8]) -> RawResponse {
        let stream = self.reader.get_mut();
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body).unwrap();
        self.read_response()
    }

    fn request(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> RawResponse {
        let mut head = format!("{method} {target} HTTP/1.1\r\nHost: localhost\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        self.send_raw(&head, body)
    }

    fn get(&mut self, target: &str) -> RawResponse {
        self.request("GET", target, &[("Accept", "application/json")], b"")
    }

    fn post_json(&mut self, target: &str, body: &Value) -> RawResponse {
        let body = serde_json::to_vec(body).unwrap();
        self.request(
            "POST",
            target,
            &[
                ("Accept", "application/json"),
                ("Content-Type", "application/json"),
            ],
            &body,
        )
    }

    fn read_response(&mut self) -> RawResponse {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        let status: u16 = line.split(' ').nth(1).unwrap().parse().unwrap();
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (k, v) = line.split_once(':').unwrap();
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
        let length: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.parse().unwrap())
            .expect("the fake always sends Content-Length");
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body).unwrap();
        RawResponse {
            status,
            headers,
            body,
        }
    }
}

fn error_message(response: &RawResponse) -> String {
    let body = response.json();
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["status-code"], response.status);
    body["result"]["message"].as_str().unwrap().to_string()
}

const LAYER: &str = "summary: django layer\nservices:\n  django:\n    override: replace\n    command: /bin/gunicorn\n    startup: enabled\n    kill-delay: 60s\n";

#[test]
fn layers_and_plan_round_trip_on_one_connection() {
    let (_dir, fake) = FakePebble::start_in_temp_dir(PebbleModel::new());
    let mut conn = Connection::open(fake.socket_path());

    let info = conn.get("/v1/system-info");
    assert_eq!(info.status, 200);
    assert_eq!(info.json()["result"]["version"], "v1.32.1");

    let empty = conn.get("/v1/plan?format=yaml").json();
    assert_eq!(empty["result"], "{}\n");

    let added = conn.post_json(
        "/v1/layers",
        &json!({"action": "add", "combine": true, "label": "django", "format": "yaml", "layer": LAYER}),
    );
    assert_eq!(added.status, 200);
    assert_eq!(
        added.json(),
        json!({"type": "sync", "status-code": 200, "status": "OK", "result": true})
    );
    assert_eq!(added.header("content-type"), Some("application/json"));

    let plan = conn.get("/v1/plan?format=yaml").json();
    let yaml = plan["result"].as_str().unwrap();
    let parsed = django_charm::pebble::Layer::from_yaml(yaml).unwrap();
    let django = &parsed.services["django"];
    assert_eq!(django.command.as_deref(), Some("/bin/gunicorn"));
    assert_eq!(django.kill_delay.as_deref(), Some("1m0s"), "{yaml}");
    assert_eq!(parsed.summary, None, "a plan has no summary");

    let refused = conn.post_json(
        "/v1/layers",
        &json!({"action": "add", "combine": false, "label": "extra", "format": "yaml",
                "layer": "services:\n  web:\n    command: /bin/web\n"}),
    );
    assert_eq!(refused.status, 400);
    assert_eq!(refused.json()["status"], "Bad Request");
    assert_eq!(
        error_message(&refused),
        "layer \"extra\" must define \"override\" for service \"web\""
    );
    let unknown = conn.post_json(
        "/v1/layers",
        &json!({"action": "add", "label": "x", "format": "yaml", "layer": "service: {}\n"}),
    );
    assert_eq!(
        error_message(&unknown),
        "cannot parse layer YAML: cannot parse layer \"x\": unknown section \"service\""
    );
    let bad_json = conn.request("POST", "/v1/layers", &[], b"{");
    assert!(error_message(&bad_json).starts_with("cannot decode request body: "));
    let bad_format = conn.get("/v1/plan");
    assert_eq!(
        (bad_format.status, error_message(&bad_format)),
        (400, "invalid format \"\"".into())
    );
    let nowhere = conn.get("/v1/nowhere");
    assert_eq!(
        (nowhere.status, error_message(&nowhere)),
        (404, "invalid API endpoint requested".into())
    );
    let wrong_method = conn.request("PUT", "/v1/plan", &[], b"");
    assert_eq!(
        (wrong_method.status, error_message(&wrong_method)),
        (405, "method \"PUT\" not allowed".into())
    );
    assert_eq!(wrong_method.json()["status"], "Method Not Allowed");

    // The refused layers left the plan as it was.
    assert_eq!(fake.model().layers.len(), 1);
}

#[test]
fn chunked_request_bodies_are_read() {
    let (_dir, fake) = FakePebble::start_in_temp_dir(PebbleModel::new());
    let mut conn = Connection::open(fake.socket_path());
    let body = serde_json::to_vec(
        &json!({"action": "add", "label": "django", "format": "yaml", "layer": LAYER}),
    )
    .unwrap();
    let (a, b) = body.split_at(10);
    let mut chunked = Vec::new();
    for piece in [a, b] {
        chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        chunked.extend_from_slice(piece);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let response = conn.send_raw(
        "POST /v1/layers HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        &chunked,
    );
    assert_eq!(
        response.status,
        200,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    // The connection is still usable afterwards.
    assert_eq!(conn.get("/v1/system-info").status, 200);
    assert_eq!(fake.model().layers[0].0, "django");
}

#[test]
fn replan_is_an_async_change_to_wait_for() {
    let (_dir, fake) = FakePebble::start_in_temp_dir(PebbleModel::new());
    let mut conn = Connection::open(fake.socket_path());
    conn.post_json(
        "/v1/layers",
        &json!({"action": "add", "label": "django", "format": "yaml", "layer": LAYER}),
    );

    let accepted = conn.post_json("/v1/services", &json!({"action": "replan", "services": []}));
    assert_eq!(accepted.status, 202);
    let body = accepted.json();
    assert_eq!(body["type"], "async");
    assert_eq!(body["status"], "Accepted");
    assert!(body.get("result").is_none(), "{body}");
    let change = body["change"].as_str().unwrap().to_string();

    let waited = conn.get(&format!("/v1/changes/{change}/wait?timeout=4.000s"));
    assert_eq!(waited.status, 200);
    let result = &waited.json()["result"];
    assert_eq!(result["id"], change.as_str());
    assert_eq!(result["kind"], "replan");
    assert_eq!(result["status"], "Done");
    assert_eq!(result["ready"], true);
    assert_eq!(result["summary"], "Replan service \"django\"");
    assert!(result.get("err").is_none());
    assert_eq!(result["tasks"][0]["kind"], "start");

    let services = conn.get("/v1/services?names=django").json();
    assert_eq!(services["result"][0]["current"], "active");
    assert_eq!(services["result"][0]["startup"], "enabled");
    assert!(services["result"][0]["current-since"].is_string());
    assert_eq!(fake.model().service_status("django"), ServiceStatus::Active);

    let missing = conn.get("/v1/changes/999/wait");
    assert_eq!(
        (missing.status, error_message(&missing)),
        (404, "cannot find change with id \"999\"".into())
    );
    let no_names = conn.post_json("/v1/services", &json!({"action": "start", "services": []}));
    assert_eq!(
        error_message(&no_names),
        "must specify services for start action"
    );
    let unknown = conn.post_json(
        "/v1/services",
        &json!({"action": "start", "services": ["nope"]}),
    );
    assert_eq!(
        error_message(&unknown),
        "cannot start services: service \"nope\" does not exist"
    );

    // A service that fails to start fails the change, which the wait reports.
    fake.model().failing_services.insert("django".into());
    conn.post_json(
        "/v1/services",
        &json!({"action": "stop", "services": ["django"]}),
    );
    let failed = conn
        .post_json(
            "/v1/services",
            &json!({"action": "start", "services": ["django"]}),
        )
        .json();
    let change = failed["change"].as_str().unwrap();
    let result = conn.get(&format!("/v1/changes/{change}")).json()["result"].clone();
    assert_eq!(result["status"], "Error");
    assert_eq!(
        result["err"],
        "cannot perform the following tasks:\n- Start service \"django\" (service start attempt: exited quickly with code 1, will restart)"
    );
}

fn multipart_push(boundary: &str, path: &str, content: &[u8], metadata: &Value) -> Vec<u8> {
    let mut body = Vec::new();
    let request_part = format!(
        "--{boundary}\r\nContent-Type: application/json\r\n\
         Content-Disposition: form-data; name=\"request\"\r\n\r\n{metadata}\r\n"
    );
    let file_head = format!(
        "--{boundary}\r\nContent-Type: application/octet-stream\r\n\
         Content-Disposition: form-data; name=\"files\"; filename=\"{path}\"\r\n\r\n"
    );
    body.extend_from_slice(request_part.as_bytes());
    body.extend_from_slice(file_head.as_bytes());
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    body
}

/// The parts of a multipart response: (headers, body) each.
fn multipart_parts(response: &RawResponse) -> Vec<(String, Vec<u8>)> {
    let content_type = response.header("content-type").unwrap();
    let boundary = content_type.split("boundary=").nth(1).unwrap();
    assert_eq!(boundary.len(), 60);
    let delimiter = format!("--{boundary}");
    let text = &response.body;
    let mut parts = Vec::new();
    let mut rest: &[u8] = text;
    let find = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).position(|w| w == needle);
    let start = find(rest, delimiter.as_bytes()).unwrap();
    rest = &rest[start + delimiter.len()..];
    while !rest.starts_with(b"--") {
        rest = &rest[2..];
        let end = find(rest, format!("\r\n{delimiter}").as_bytes()).unwrap();
        let part = &rest[..end];
        let split = find(part, b"\r\n\r\n").unwrap();
        parts.push((
            String::from_utf8(part[..split].to_vec()).unwrap(),
            part[split + 4..].to_vec(),
        ));
        rest = &rest[end + 2 + delimiter.len()..];
    }
    parts
}

#[test]
fn files_are_written_with_multipart_and_read_back() {
    let (_dir, fake) = FakePebble::start_in_temp_dir(PebbleModel::new());
    let mut conn = Connection::open(fake.socket_path());
    let boundary = "0123456789abcdef0123456789abcdef";
    let content = b"bind = ['0.0.0.0:8000']\n\x00\xff";
    let body = multipart_push(
        boundary,
        "/django/gunicorn.conf.py",
        content,
        &json!({"action": "write", "files": [{
            "path": "/django/gunicorn.conf.py",
            "make-dirs": true,
            "permissions": "600",
            "user": "_daemon_",
            "group": "_daemon_",
        }]}),
    );
    let written = conn.request(
        "POST",
        "/v1/files",
        &[(
            "Content-Type",
            &format!("multipart/form-data; boundary=\"{boundary}\""),
        )],
        &body,
    );
    assert_eq!(
        written.status,
        200,
        "{}",
        String::from_utf8_lossy(&written.body)
    );
    assert_eq!(
        written.json()["result"],
        json!([{"path": "/django/gunicorn.conf.py"}])
    );
    {
        let model = fake.model();
        let entry = &model.files["/django/gunicorn.conf.py"];
        assert_eq!(entry.content.as_bytes(), content);
        assert_eq!(entry.permissions(), "600");
        assert_eq!(entry.user_name(), "_daemon_");
        assert!(matches!(
            model.ops[0],
            PebbleOp::Push {
                make_dirs: true,
                ..
            }
        ));
    }

    let read = conn.request(
        "GET",
        "/v1/files?action=read&path=/django/gunicorn.conf.py&path=/django/missing",
        &[("Accept", "multipart/form-data")],
        b"",
    );
    assert_eq!(read.status, 200);
    let parts = multipart_parts(&read);
    assert_eq!(parts.len(), 2);
    assert!(
        parts[0]
            .0
            .contains("form-data; name=\"files\"; filename=\"/django/gunicorn.conf.py\""),
        "{}",
        parts[0].0
    );
    assert_eq!(parts[0].1, content);
    assert!(parts[1].0.contains("name=\"response\""));
    let metadata: Value = serde_json::from_slice(&parts[1].1).unwrap();
    assert_eq!(
        metadata["result"][0],
        json!({"path": "/django/gunicorn.conf.py"})
    );
    assert_eq!(
        metadata["result"][1]["error"],
        json!({"message": "stat /django/missing: no such file or directory", "kind": "not-found"})
    );

    let wrong_accept = conn.get("/v1/files?action=read&path=/django/gunicorn.conf.py");
    assert_eq!(
        error_message(&wrong_accept),
        "must accept multipart/form-data"
    );

    let listed = conn.get("/v1/files?action=list&path=/django").json();
    let entry = &listed["result"][0];
    assert_eq!(entry["name"], "gunicorn.conf.py");
    assert_eq!(entry["type"], "file");
    assert_eq!(entry["size"], content.len());
    assert_eq!(entry["permissions"], "600");
    let itself = conn
        .get("/v1/files?action=list&path=/django&itself=true")
        .json();
    assert_eq!(itself["result"][0]["type"], "directory");
    assert!(itself["result"][0].get("size").is_none());

    let missing = conn.get("/v1/files?action=list&path=/nope&itself=true");
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["result"]["kind"], "not-found");
    assert_eq!(
        error_message(&missing),
        "stat /nope: no such file or directory"
    );

    let short = conn.request(
        "POST",
        "/v1/files",
        &[("Content-Type", "multipart/form-data; boundary=short")],
        &multipart_push(
            "short",
            "/x",
            b"x",
            &json!({"action": "write", "files": [{"path": "/x"}]}),
        ),
    );
    assert_eq!(error_message(&short), "invalid boundary \"short\"");
    let json_write = conn.post_json("/v1/files", &json!({"action": "write", "files": []}));
    assert_eq!(
        error_message(&json_write),
        "must use multipart with \"write\" action"
    );
    let no_parent = conn.request(
        "POST",
        "/v1/files",
        &[(
            "Content-Type",
            &format!("multipart/form-data; boundary={boundary}"),
        )],
        &multipart_push(
            boundary,
            "/etc/app/x",
            b"x",
            &json!({"action": "write", "files": [{"path": "/etc/app/x"}]}),
        ),
    );
    assert_eq!(no_parent.status, 200);
    assert_eq!(no_parent.json()["result"][0]["error"]["kind"], "not-found");

    let made = conn.post_json(
        "/v1/files",
        &json!({"action": "make-dirs", "dirs": [
            {"path": "/srv/a/b", "make-parents": true},
            {"path": "/django"},
        ]}),
    );
    let made = made.json();
    assert_eq!(made["result"][0], json!({"path": "/srv/a/b"}));
    assert_eq!(
        made["result"][1]["error"]["message"],
        "mkdir /django: file exists"
    );
    let removed = conn.post_json(
        "/v1/files",
        &json!({"action": "remove", "paths": [{"path": "/srv", "recursive": true}]}),
    );
    assert_eq!(removed.json()["result"], json!([{"path": "/srv"}]));
    assert!(!fake.model().files.contains_key("/srv/a"));
}

fn websocket(socket: &Path, task: &str, which: &str) -> tungstenite::WebSocket<UnixStream> {
    let stream = UnixStream::connect(socket).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let url = format!("ws://localhost/v1/tasks/{task}/websocket/{which}");
    let (ws, _) = tungstenite::client(url.as_str(), stream).unwrap();
    ws
}

/// Everything a stream sent up to its `end` text frame.
fn read_until_end(ws: &mut tungstenite::WebSocket<UnixStream>) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        match ws.read().unwrap() {
            Message::Binary(bytes) => out.extend_from_slice(&bytes),
            Message::Text(text) => {
                let command: Value = serde_json::from_str(text.as_str()).unwrap();
                assert_eq!(command, json!({"command": "end"}));
                return out;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn exec_runs_over_websockets() {
    let model = PebbleModel::new().with_dir("/django/app").with_exec(
        ExecRule::exact(["cat"])
            .echo_stdin()
            .exit_code(3)
            .stderr("warned\n"),
    );
    let (_dir, fake) = FakePebble::start_in_temp_dir(model);
    let socket = fake.socket_path().to_path_buf();
    let mut conn = Connection::open(&socket);

    let accepted = conn.post_json(
        "/v1/exec",
        &json!({"command": ["cat"], "service-context": null, "environment": {"A": "1"},
                "working-dir": "/django/app", "timeout": "10.000s", "user-id": null,
                "user": null, "group-id": null, "group": null, "split-stderr": true}),
    );
    assert_eq!(
        accepted.status,
        202,
        "{}",
        String::from_utf8_lossy(&accepted.body)
    );
    let body = accepted.json();
    let change = body["change"].as_str().unwrap().to_string();
    let task = body["result"]["task-id"].as_str().unwrap().to_string();
    assert_eq!(body["result"]["working-dir"], "/django/app");

    let mut control = websocket(&socket, &task, "control");
    let mut stdio = websocket(&socket, &task, "stdio");
    let mut stderr = websocket(&socket, &task, "stderr");
    stdio.send(Message::binary(b"hello ".to_vec())).unwrap();
    stdio.send(Message::binary(b"pebble".to_vec())).unwrap();
    stdio.send(Message::text(r#"{"command":"end"}"#)).unwrap();
    assert_eq!(read_until_end(&mut stdio), b"hello pebble");
    assert_eq!(read_until_end(&mut stderr), b"warned\n");

    let waited = conn.get(&format!("/v1/changes/{change}/wait?timeout=4.000s"));
    let result = &waited.json()["result"];
    assert_eq!(
        result["status"], "Done",
        "a non-zero exit is not a change error"
    );
    assert!(result.get("err").is_none());
    assert_eq!(result["tasks"][0]["data"]["exit-code"], 3);

    // The server closes control once the command has exited.
    loop {
        match control.read() {
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => {}
        }
    }
    let _ = stdio.close(None);
    let _ = stderr.close(None);

    match &fake.model().ops[0] {
        PebbleOp::Exec {
            command,
            environment,
            working_dir,
            stdin,
            ..
        } => {
            assert_eq!(command, &["cat"]);
            assert_eq!(environment["A"], "1");
            assert_eq!(working_dir.as_deref(), Some("/django/app"));
            assert_eq!(stdin.as_bytes(), b"hello pebble");
        }
        other => panic!("{other:?}"),
    }

    let empty = conn.post_json("/v1/exec", &json!({"command": []}));
    assert_eq!(
        (empty.status, error_message(&empty)),
        (400, "must specify command".into())
    );
    let no_dir = conn.post_json(
        "/v1/exec",
        &json!({"command": ["ls"], "working-dir": "/nope"}),
    );
    assert_eq!(
        (no_dir.status, error_message(&no_dir)),
        (
            500,
            "cannot call exec: working directory \"/nope\" does not exist".into()
        )
    );
}

#[test]
fn exec_with_merged_stderr_uses_stdio_only() {
    let model = PebbleModel::new().with_exec(
        ExecRule::prefix(["python3", "manage.py"])
            .stdout("out\n")
            .stderr("err\n"),
    );
    let (_dir, fake) = FakePebble::start_in_temp_dir(model);
    let socket = fake.socket_path().to_path_buf();
    let mut conn = Connection::open(&socket);
    let body = conn
        .post_json(
            "/v1/exec",
            &json!({"command": ["python3", "manage.py", "migrate"], "split-stderr": false}),
        )
        .json();
    let change = body["change"].as_str().unwrap().to_string();
    let task = body["result"]["task-id"].as_str().unwrap().to_string();
    let mut stdio = websocket(&socket, &task, "stdio");
    stdio.send(Message::text(r#"{"command":"end"}"#)).unwrap();
    assert_eq!(read_until_end(&mut stdio), b"out\nerr\n");
    let result = conn.get(&format!("/v1/changes/{change}/wait")).json();
    assert_eq!(result["result"]["tasks"][0]["data"]["exit-code"], 0);
}

#[test]
fn exec_refuses_a_missing_program_or_an_unknown_user_with_a_400() {
    let model = PebbleModel::new().with_layer(
        "rock",
        django_charm::pebble::Layer::from_yaml(
            "services:\n  web:\n    override: replace\n    command: /bin/web\n    user: web\n",
        )
        .unwrap(),
    );
    let (_dir, fake) = FakePebble::start_in_temp_dir(model);
    let mut conn = Connection::open(fake.socket_path());
    let mut refused = |body: Value| {
        let response = conn.post_json("/v1/exec", &body);
        let envelope = response.json();
        assert_eq!(envelope["status"], "Bad Request", "{envelope}");
        (response.status, error_message(&response))
    };
    assert_eq!(
        refused(json!({"command": ["nope", "--version"], "split-stderr": true})),
        (400, "cannot find executable \"nope\"".into())
    );
    assert_eq!(
        refused(json!({"command": ["/usr/local/bin/nope"]})),
        (400, "cannot find executable \"/usr/local/bin/nope\"".into())
    );
    // Pebble looks for the program before it resolves the service context.
    assert_eq!(
        refused(json!({"command": ["nope"], "service-context": "ghost"})),
        (400, "cannot find executable \"nope\"".into())
    );
    assert_eq!(
        refused(json!({"command": ["python3"], "user": "bob"})),
        (400, "user: unknown user bob".into())
    );
    assert_eq!(
        refused(json!({"command": ["python3"], "user": "_daemon_", "group": "wheel"})),
        (400, "group: unknown group wheel".into())
    );
    // The service's user counts like the request's own.
    assert_eq!(
        refused(json!({"command": ["/bin/web"], "service-context": "web"})),
        (400, "user: unknown user web".into())
    );
    assert!(
        fake.model().changes.is_empty(),
        "no change for a refused exec"
    );
    assert!(fake.model().exec_commands().is_empty());
}

#[test]
fn an_exec_past_its_timeout_sends_its_output_then_fails_its_change() {
    let model = PebbleModel::new().with_exec(
        ExecRule::exact(["python3", "manage.py", "migrate"])
            .stdout("Operations to perform:\n")
            .stderr("waiting for the database\n")
            .runs_for(Duration::from_secs(30)),
    );
    let (_dir, fake) = FakePebble::start_in_temp_dir(model);
    let socket = fake.socket_path().to_path_buf();
    let mut conn = Connection::open(&socket);
    let body = conn
        .post_json(
            "/v1/exec",
            &json!({"command": ["python3", "manage.py", "migrate"], "timeout": "0.300s",
                    "split-stderr": true}),
        )
        .json();
    let change = body["change"].as_str().unwrap().to_string();
    let task = body["result"]["task-id"].as_str().unwrap().to_string();
    let started = Instant::now();
    let _control = websocket(&socket, &task, "control");
    let mut stdio = websocket(&socket, &task, "stdio");
    let mut stderr = websocket(&socket, &task, "stderr");
    stdio.send(Message::text(r#"{"command":"end"}"#)).unwrap();
    assert_eq!(read_until_end(&mut stdio), b"Operations to perform:\n");
    assert_eq!(read_until_end(&mut stderr), b"waiting for the database\n");
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "the command ran until its timeout"
    );
    let waited = conn.get(&format!("/v1/changes/{change}/wait?timeout=10s"));
    let result = &waited.json()["result"];
    assert_eq!(result["status"], "Error");
    assert_eq!(
        result["err"],
        "cannot perform the following tasks:\n- Execute command \"python3\" \
         (timed out after 300ms: context deadline exceeded)"
    );
    assert_eq!(result["tasks"][0]["data"]["exit-code"], -1);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "not its whole run"
    );
    assert_eq!(
        fake.model().exec_commands(),
        [["python3", "manage.py", "migrate"]]
    );
}

#[test]
fn an_exec_nobody_connects_to_times_out() {
    let (_dir, fake) = FakePebble::start_in_temp_dir(PebbleModel::new());
    let mut conn = Connection::open(fake.socket_path());
    let body = conn
        .post_json(
            "/v1/exec",
            &json!({"command": ["true"], "split-stderr": true}),
        )
        .json();
    let change = body["change"].as_str().unwrap().to_string();
    let task = body["result"]["task-id"].as_str().unwrap().to_string();

    let started = Instant::now();
    let early = conn.get(&format!("/v1/changes/{change}/wait?timeout=0.2s"));
    assert_eq!(
        (early.status, error_message(&early)),
        (504, "timed out waiting for change after 200ms".into())
    );
    assert_eq!(early.json()["status"], "Gateway Timeout");

    let waited = conn.get(&format!("/v1/changes/{change}/wait?timeout=10s"));
    let result = &waited.json()["result"];
    assert_eq!(result["status"], "Error");
    assert_eq!(
        result["err"],
        format!(
            "cannot perform the following tasks:\n- Execute command \"true\" \
             (exec {task}: timeout waiting for websocket connections: context deadline exceeded)"
        )
    );
    assert!(started.elapsed() >= Duration::from_secs(4));
    assert!(
        fake.model().exec_commands().is_empty(),
        "the command never ran"
    );
}

#[test]
fn dropping_the_fake_closes_connections_and_removes_the_socket() {
    let (_dir, fake) = FakePebble::start_in_temp_dir(PebbleModel::new());
    let socket = fake.socket_path().to_path_buf();
    let mut conn = Connection::open(&socket);
    assert_eq!(conn.get("/v1/system-info").status, 200);
    let model = fake.stop();
    assert!(!socket.exists());
    assert!(UnixStream::connect(&socket).is_err());
    let mut line = String::new();
    assert_eq!(
        conn.reader.read_line(&mut line).unwrap_or(0),
        0,
        "the open connection was closed"
    );

    // A restarted "container" serves the same state on the same path.
    let again = FakePebble::start(&socket, model);
    let mut conn = Connection::open(again.socket_path());
    assert_eq!(conn.get("/v1/system-info").status, 200);
}
