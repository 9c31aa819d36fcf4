//! The files API (`CONTRACT.md` E.8): push as a multipart write, pull as a multipart
//! read, listings, directories and removal. Pebble reports most failures per path inside
//! a successful answer, so every call checks those results, and ownership is sent only
//! where the caller set it, as ops does.

use reqwest::Method;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::PebbleClient;
use super::transport::{RequestBody, decode_envelope, decode_result};
use crate::pebble::multipart;
use crate::pebble::{FileInfo, FileOwnership, MakeDirOptions, PebbleError, PushOptions, Result};

impl PebbleClient {
    pub(super) async fn push_async(
        &self,
        path: &str,
        content: &[u8],
        options: &PushOptions,
    ) -> Result<()> {
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

    pub(super) async fn pull_async(&self, path: &str) -> Result<Vec<u8>> {
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

    pub(super) async fn list_files_async(
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

    pub(super) async fn make_dir_async(&self, path: &str, options: &MakeDirOptions) -> Result<()> {
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

    pub(super) async fn remove_path_async(&self, path: &str, recursive: bool) -> Result<()> {
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

#[cfg(test)]
mod tests {
    //! The files API on the wire: multipart bodies both ways, per-path errors, 404
    //! listings, and the JSON of make-dirs and remove.

    use super::*;
    use crate::pebble::client::test_server::{Reply, Responder, error, sync, unexpected};
    use crate::pebble::{CheckInfo, Pebble};

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
}
