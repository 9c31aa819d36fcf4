//! `multipart/form-data` as Pebble's files API speaks it: the body we send to write files
//! (a `request` JSON part first, then one `files` part per file) and the body Pebble
//! answers to a read (one `files` part per file, then a trailing `response` JSON part).
//!
//! Only what that exchange needs is here: CRLF line ends, no header folding, no nested
//! multiparts. Pebble is written in Go, so the parser accepts what Go's `mime/multipart`
//! writer produces (a preamble-free body and `\r\n--boundary` delimiters) and the writer
//! produces what Go's reader and Pebble's checks accept (a boundary of at least 32
//! characters, the `request` part first).

use super::{PebbleError, Result};

/// Length in hex characters of the boundaries we generate; Pebble rejects anything
/// shorter than 32 characters.
const BOUNDARY_HEX_LEN: usize = 32;

/// A fresh random boundary: 32 lowercase hex characters.
///
/// Random rather than fixed so that file content cannot contain it by accident (the
/// odds are 2^-128), which saves scanning every file before sending it.
pub fn new_boundary() -> Result<String> {
    let mut bytes = [0u8; BOUNDARY_HEX_LEN / 2];
    getrandom::fill(&mut bytes)
        .map_err(|e| PebbleError::Protocol(format!("cannot generate a multipart boundary: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The `Content-Type` header value for a body written with `boundary`.
///
/// The boundary is quoted, as ops does; a quoted boundary is valid whatever characters
/// it holds.
pub fn content_type(boundary: &str) -> String {
    format!("multipart/form-data; boundary={}", quote(boundary))
}

/// `s` as an RFC 2045 quoted-string: `"` and `\` are backslash-escaped, which is how Go's
/// `mime.ParseMediaType` (used by Pebble for `filename=`) reads them back.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// The body of a `POST /v1/files` write: the `request` part holding `request_json`, then
/// one `files` part per `(path, content)`, whose filename is the full path.
pub fn write_files_body(boundary: &str, request_json: &[u8], files: &[(&str, &[u8])]) -> Vec<u8> {
    let size: usize = request_json.len()
        + files
            .iter()
            .map(|(p, c)| p.len() + c.len() + 160)
            .sum::<usize>()
        + 200;
    let mut body = Vec::with_capacity(size);
    body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
    body.extend_from_slice(b"Content-Type: application/json\r\n");
    body.extend_from_slice(b"Content-Disposition: form-data; name=\"request\"\r\n\r\n");
    body.extend_from_slice(request_json);
    for (path, content) in files {
        body.extend_from_slice(format!("\r\n--{boundary}\r\n").as_bytes());
        body.extend_from_slice(b"Content-Type: application/octet-stream\r\n");
        body.extend_from_slice(
            format!(
                "Content-Disposition: form-data; name=\"files\"; filename={}\r\n\r\n",
                quote(path)
            )
            .as_bytes(),
        );
        body.extend_from_slice(content);
    }
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    body
}

/// One part of a parsed multipart body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Header names as sent; look them up with [`Part::header`], which ignores case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Part {
    /// The value of header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `name` parameter of `Content-Disposition` (`files`, `response`).
    pub fn name(&self) -> Option<String> {
        self.disposition_param("name")
    }

    /// The `filename` parameter of `Content-Disposition` (for Pebble, the full path).
    pub fn filename(&self) -> Option<String> {
        self.disposition_param("filename")
    }

    fn disposition_param(&self, key: &str) -> Option<String> {
        let value = self.header("Content-Disposition")?;
        header_params(value)
            .into_iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    }
}

/// The `boundary` parameter of a `multipart/form-data` content type, quoted or not.
/// `None` when the type is not `multipart/form-data` or has no boundary.
pub fn boundary_from_content_type(content_type: &str) -> Option<String> {
    let media_type = content_type.split(';').next()?.trim();
    if !media_type.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    header_params(content_type)
        .into_iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v)
        .filter(|b| !b.is_empty())
}

/// The `key=value` parameters after the first `;` of a header value, with quoted-string
/// values unescaped. Malformed trailing input is dropped rather than failing: the callers
/// then report the parameter they needed as missing.
fn header_params(value: &str) -> Vec<(String, String)> {
    let mut params = Vec::new();
    let Some(start) = value.find(';') else {
        return params;
    };
    let mut chars = value[start + 1..].chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ';') {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ';' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if chars.next() != Some('=') {
            return params;
        }
        let mut val = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(escaped) = chars.next() {
                            val.push(escaped);
                        }
                    }
                    '"' => {
                        closed = true;
                        break;
                    }
                    _ => val.push(c),
                }
            }
            if !closed {
                return params;
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ';' {
                    break;
                }
                val.push(c);
                chars.next();
            }
            val = val.trim_end().to_string();
        }
        params.push((key.trim().to_string(), val));
    }
}

/// Split a multipart body into its parts.
pub fn parse(boundary: &str, body: &[u8]) -> Result<Vec<Part>> {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    // Every delimiter after the first is preceded by CRLF, which belongs to it rather
    // than to the part before.
    let mut crlf_delimiter = b"\r\n".to_vec();
    crlf_delimiter.extend_from_slice(delimiter);

    let mut pos = if body.starts_with(delimiter) {
        0
    } else {
        find(body, &crlf_delimiter, 0)
            .map(|i| i + 2)
            .ok_or_else(|| malformed("no opening boundary"))?
    };

    let mut parts = Vec::new();
    loop {
        pos += delimiter.len();
        let rest = &body[pos..];
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        // RFC 2046 allows linear whitespace ("transport padding") after a delimiter.
        let padding = rest
            .iter()
            .take_while(|b| **b == b' ' || **b == b'\t')
            .count();
        pos += padding;
        if !body[pos..].starts_with(b"\r\n") {
            return Err(malformed("boundary not followed by a line end"));
        }
        pos += 2;

        let (headers, body_start) = if body[pos..].starts_with(b"\r\n") {
            (Vec::new(), pos + 2)
        } else {
            let end =
                find(body, b"\r\n\r\n", pos).ok_or_else(|| malformed("part headers never end"))?;
            (parse_headers(&body[pos..end])?, end + 4)
        };

        let next = find(body, &crlf_delimiter, body_start)
            .ok_or_else(|| malformed("no closing boundary"))?;
        parts.push(Part {
            headers,
            body: body[body_start..next].to_vec(),
        });
        pos = next + 2;
    }
}

fn parse_headers(block: &[u8]) -> Result<Vec<(String, String)>> {
    let text = std::str::from_utf8(block).map_err(|_| malformed("part headers are not UTF-8"))?;
    text.split("\r\n")
        .map(|line| {
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| malformed(&format!("bad part header line {line:?}")))?;
            Ok((name.trim().to_string(), value.trim().to_string()))
        })
        .collect()
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

fn malformed(what: &str) -> PebbleError {
    PebbleError::Protocol(format!("malformed multipart body: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn writes_request_part_then_one_file_byte_for_byte() {
        let request =
            br#"{"action":"write","files":[{"path":"/etc/web/web.conf","make-dirs":true,"permissions":"600"}]}"#;
        let body = write_files_body(B, request, &[("/etc/web/web.conf", b"a=1\nb=2\n")]);
        let expected = concat!(
            "--0123456789abcdef0123456789abcdef\r\n",
            "Content-Type: application/json\r\n",
            "Content-Disposition: form-data; name=\"request\"\r\n",
            "\r\n",
            r#"{"action":"write","files":[{"path":"/etc/web/web.conf","make-dirs":true,"permissions":"600"}]}"#,
            "\r\n",
            "--0123456789abcdef0123456789abcdef\r\n",
            "Content-Type: application/octet-stream\r\n",
            "Content-Disposition: form-data; name=\"files\"; filename=\"/etc/web/web.conf\"\r\n",
            "\r\n",
            "a=1\nb=2\n",
            "\r\n",
            "--0123456789abcdef0123456789abcdef--\r\n",
        );
        assert_eq!(String::from_utf8_lossy(&body), expected);
    }

    #[test]
    fn content_type_quotes_the_boundary() {
        assert_eq!(
            content_type(B),
            "multipart/form-data; boundary=\"0123456789abcdef0123456789abcdef\""
        );
    }

    #[test]
    fn new_boundaries_are_32_hex_chars_and_differ() {
        let a = new_boundary().unwrap();
        let b = new_boundary().unwrap();
        assert_eq!(a.len(), 32);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(a, b);
    }

    #[test]
    fn quotes_and_backslashes_in_filenames_are_escaped_and_read_back() {
        assert_eq!(quote(r#"/tmp/a"b\c"#), r#""/tmp/a\"b\\c""#);
        let body = write_files_body(B, b"{}", &[(r#"/tmp/a"b\c"#, b"x")]);
        let parts = parse(B, &body).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[1].filename().as_deref(), Some(r#"/tmp/a"b\c"#));
        assert_eq!(parts[1].body, b"x");
    }

    /// What Pebble answers to `GET /v1/files?action=read` (Go's multipart writer: no
    /// trailing CRLF is required after the close delimiter, headers in sorted order).
    fn read_response(boundary: &str, file: Option<(&str, &[u8])>, response_json: &str) -> Vec<u8> {
        let mut body = Vec::new();
        if let Some((path, content)) = file {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{path}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(content);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"response\"\r\nContent-Type: application/json\r\n\r\n{response_json}\r\n--{boundary}--\r\n"
            )
            .as_bytes(),
        );
        body
    }

    #[test]
    fn parses_a_read_response_with_one_file_and_the_response_part() {
        let boundary = "a".repeat(60);
        let content = b"line one\r\n--not-a-boundary\r\n\x00\xff binary";
        let json =
            r#"{"type":"sync","status-code":200,"status":"OK","result":[{"path":"/etc/x.conf"}]}"#;
        let body = read_response(&boundary, Some(("/etc/x.conf", content)), json);
        let ct = format!("multipart/form-data; boundary={boundary}");
        let parsed_boundary = boundary_from_content_type(&ct).unwrap();
        assert_eq!(parsed_boundary, boundary);

        let parts = parse(&parsed_boundary, &body).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name().as_deref(), Some("files"));
        assert_eq!(parts[0].filename().as_deref(), Some("/etc/x.conf"));
        assert_eq!(
            parts[0].header("content-type"),
            Some("application/octet-stream")
        );
        assert_eq!(parts[0].body, content);
        assert_eq!(parts[1].name().as_deref(), Some("response"));
        assert_eq!(parts[1].filename(), None);
        assert_eq!(parts[1].body, json.as_bytes());
    }

    #[test]
    fn parses_a_read_response_where_the_file_has_an_error() {
        let boundary = "b".repeat(60);
        let json = r#"{"type":"sync","status-code":200,"status":"OK","result":[{"path":"/nope","error":{"message":"stat /nope: no such file or directory","kind":"not-found"}}]}"#;
        let body = read_response(&boundary, None, json);
        let parts = parse(&boundary, &body).unwrap();
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].name().as_deref(), Some("response"));
        assert_eq!(parts[0].body, json.as_bytes());
    }

    #[test]
    fn parses_an_empty_file_part() {
        let body = read_response(B, Some(("/empty", b"")), "{}");
        let parts = parse(B, &body).unwrap();
        assert_eq!(parts[0].body, b"");
        assert_eq!(parts[1].body, b"{}");
    }

    #[test]
    fn boundary_from_content_type_handles_quotes_and_other_types() {
        assert_eq!(
            boundary_from_content_type(&content_type(B)).as_deref(),
            Some(B)
        );
        assert_eq!(
            boundary_from_content_type("Multipart/Form-Data;boundary=abc").as_deref(),
            Some("abc")
        );
        assert_eq!(boundary_from_content_type("application/json"), None);
        assert_eq!(boundary_from_content_type("multipart/form-data"), None);
    }

    #[test]
    fn truncated_bodies_are_protocol_errors() {
        let body = read_response(B, Some(("/f", b"data")), "{}");
        let cut = &body[..body.len() - 60];
        assert!(matches!(parse(B, cut), Err(PebbleError::Protocol(_))));
        assert!(matches!(
            parse(B, b"garbage"),
            Err(PebbleError::Protocol(_))
        ));
    }
}
