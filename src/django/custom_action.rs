//! Custom actions (`paas-config.yaml` `actions`): the pure parts of running one — the
//! argv with the action's parameters substituted, and the output as it goes into the
//! action's results.

use serde_json::Value;

use crate::django::paas_config::{ArgPiece, arg_pieces};
use crate::pyjson;

/// The result keys. Juju refuses `stdout`, `stderr` and their `-encoding` keys in
/// `action-set` and overwrites `return-code` with the charm's own exit status.
pub const EXIT_CODE: &str = "exit-code";
pub const STDOUT: &str = "command-stdout";
pub const STDERR: &str = "command-stderr";

/// The longest output kept in a result, and the mark of a cut one.
const MAX_OUTPUT: usize = 65536;
const CUT_MARK: &str = "[...]";

/// A parameter's value as it goes into an argument: strings as they are, integers in
/// decimal, anything else as compact JSON with non-ASCII escaped.
pub fn param_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
        other => pyjson::dumps_compact(other),
    }
}

/// The argv with `{param}` replaced by the parameters' values, in one pass over each
/// argument (a value is never looked at again); `Err(name)` for a parameter that is not
/// set. The arguments were validated with the file, so an unbalanced brace is left as
/// it is.
pub fn substitute(
    command: &[String],
    params: &serde_json::Map<String, Value>,
) -> Result<Vec<String>, String> {
    command
        .iter()
        .map(|arg| {
            let Some(pieces) = arg_pieces(arg) else {
                return Ok(arg.clone());
            };
            let mut out = String::new();
            for piece in pieces {
                match piece {
                    ArgPiece::Text(text) => out.push_str(&text),
                    ArgPiece::Param(name) => match params.get(name) {
                        Some(value) => out.push_str(&param_text(value)),
                        None => return Err(name.to_string()),
                    },
                }
            }
            Ok(out)
        })
        .collect()
}

/// A command's output as a result value: decoded as UTF-8 (invalid bytes become
/// U+FFFD); over 64 KiB, its longest suffix of at most 64 KiB less the mark that starts
/// on a character boundary, after `[...]`.
pub fn output_result(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    if text.len() <= MAX_OUTPUT {
        return text.into_owned();
    }
    let mut start = text.len() - (MAX_OUTPUT - CUT_MARK.len());
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("{CUT_MARK}{}", &text[start..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(v: Value) -> serde_json::Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn parameters_are_substituted_by_type() {
        let p = params(json!({
            "fixture": "initial data.yaml",
            "count": 3,
            "big": 18446744073709551615u64,
            "ratio": 0.5,
            "force": true,
            "tags": ["a", "é"],
            "opts": {"k": null},
        }));
        let argv: Vec<String> = [
            "loaddata",
            "{fixture}",
            "--count={count}",
            "{big}",
            "{ratio}",
            "{force}",
            "{tags}",
            "{opts}",
            "{{fixture}}",
            "{{{count}}}",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            substitute(&argv, &p).unwrap(),
            [
                "loaddata",
                "initial data.yaml",
                "--count=3",
                "18446744073709551615",
                "0.5",
                "true",
                r#"["a","\u00e9"]"#,
                r#"{"k":null}"#,
                "{fixture}",
                "{3}"
            ]
        );
    }

    #[test]
    fn a_value_is_not_substituted_again() {
        let p = params(json!({"a": "{b}", "b": "x"}));
        assert_eq!(
            substitute(&["{a}".to_string()], &p).unwrap(),
            ["{b}"],
            "one pass"
        );
    }

    #[test]
    fn a_missing_parameter_is_named() {
        let p = params(json!({"fixture": "f"}));
        let argv = ["{fixture}".to_string(), "{verbosity}".to_string()];
        assert_eq!(substitute(&argv, &p), Err("verbosity".to_string()));
    }

    #[test]
    fn outputs_are_decoded_and_cut_from_the_front() {
        assert_eq!(output_result(b""), "");
        assert_eq!(output_result(b"ok\xff\n"), "ok\u{fffd}\n");
        let exact = vec![b'x'; MAX_OUTPUT];
        assert_eq!(output_result(&exact).len(), MAX_OUTPUT);
        let mut long = vec![b'a'; 10];
        long.extend(vec![b'x'; MAX_OUTPUT]);
        let out = output_result(&long);
        assert!(out.starts_with("[...]xxx"));
        assert_eq!(out.len(), MAX_OUTPUT);
        // A suffix never starts inside a character: "é" is two bytes.
        let text = format!("z{}", "é".repeat(MAX_OUTPUT / 2));
        let out = output_result(text.as_bytes());
        assert!(out.starts_with("[...]é"));
        assert_eq!(out.len() - CUT_MARK.len(), MAX_OUTPUT - CUT_MARK.len() - 1);
    }
}
