//! JSON as Python's `json.dumps` writes it with default arguments: `", "` and `": "`
//! separators, keys in insertion order, non-ASCII escaped as `\uXXXX` (surrogate pairs
//! above the BMP), floats in `repr` form. Databag values and environment variables that
//! other programs parse are compared byte for byte with the reference, so they go
//! through here rather than `serde_json::to_string`.

use serde_json::Value;

use crate::django::config::python_float_repr;

/// `json.dumps(value)`.
///
/// ```
/// use django_charm::pyjson::dumps;
/// let v = serde_json::json!({"b": [1, 2.5], "a": "café"});
/// assert_eq!(dumps(&v), r#"{"b": [1, 2.5], "a": "caf\u00e9"}"#);
/// ```
pub fn dumps(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

/// `json.dumps(list_of_strings)`.
///
/// ```
/// assert_eq!(django_charm::pyjson::dumps_strings(&["a.test", "b"]), r#"["a.test", "b"]"#);
/// ```
pub fn dumps_strings<S: AsRef<str>>(items: &[S]) -> String {
    let mut out = String::from("[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_string(&mut out, item.as_ref());
    }
    out.push(']');
    out
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match n.as_f64() {
            Some(f) if !(n.is_i64() || n.is_u64()) => out.push_str(&python_float_repr(f)),
            _ => out.push_str(&n.to_string()),
        },
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_string(out, k);
                out.push_str(": ");
                write_value(out, v);
            }
            out.push('}');
        }
    }
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) >= 0x7f => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_python_defaults() {
        let v: Value = serde_json::from_str(
            r#"{"b": [1, 2.5, true, null], "a": "caf\u00e9 \ud83d\ude00 \"q\" \\ \n\u0001", "c": {}}"#,
        )
        .unwrap();
        assert_eq!(
            dumps(&v),
            r#"{"b": [1, 2.5, true, null], "a": "caf\u00e9 \ud83d\ude00 \"q\" \\ \n\u0001", "c": {}}"#
        );
        assert_eq!(
            dumps_strings(&["www.example.com", "example.com", "blog.prod"]),
            r#"["www.example.com", "example.com", "blog.prod"]"#
        );
        assert_eq!(dumps_strings::<&str>(&[]), "[]");
        // Python escapes everything outside space..tilde, DEL included.
        assert_eq!(dumps(&Value::String("\u{7f}~".into())), r#""\u007f~""#);
    }
}
