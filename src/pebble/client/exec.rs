//! Exec (`CONTRACT.md` E.9): start the command, connect its control, stdio and stderr
//! websockets, stream stdin and collect the output while waiting for the change, then
//! read the exit code from the change. The output and the change end independently, so
//! neither is allowed to hold up the other for long.

use std::convert::Infallible;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::UnixStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use super::PebbleClient;
use super::changes::CHANGE_TIMEOUT;
use super::transport::{change_id, error_chain, format_duration};
use crate::pebble::{ExecOutput, ExecRequest, PebbleError, Result};

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

impl PebbleClient {
    pub(super) async fn exec_async(&self, request: &ExecRequest) -> Result<ExecOutput> {
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
        match change.into_result() {
            Ok(_) => {}
            // Keep what the command wrote (before its timeout, say): the caller may show it.
            Err(PebbleError::Change { id, err, tasks, .. }) => {
                return Err(PebbleError::Change {
                    id,
                    err,
                    tasks,
                    output: Some(Box::new(ExecOutput {
                        exit_code,
                        stdout,
                        stderr,
                    })),
                });
            }
            Err(other) => return Err(other),
        }
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
    //! Exec on the wire: the request's JSON, the websocket order, stdin and output
    //! streams, and errors before and after the change starts.

    use super::*;
    use crate::pebble::Pebble;
    use crate::pebble::client::test_server::{
        Recorded, Reply, Responder, ServerWebsocket, accepted, done_change, error, sync, unexpected,
    };

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
            matches!(&err, PebbleError::Change { id, err, .. } if id == "4" && err.contains("cannot start")),
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
