//! JSON as Python's `json.dumps` writes it with default arguments: `", "` and `": "`
//! separators, keys in insertion order, non-ASCII escaped as `\uXXXX` (surrogate pairs
//! above the BMP), floats in `repr` form. Databag values and environment variables that
//! other programs parse are compared byte for byte with the reference, so they go
//! through here rather than `serde_json::to_string`.

use serde_json::Value;

/// `json.dumps(value)`.
///
/// ```
/// use django_charm::pyjson::dumps;
/// let v = serde_json::json!({"b": [1, 2.5], "a": "café"});
/// assert_eq!(dumps(&v), r#"{"b": [1, 2.5], "a": "caf\u00e9"}"#);
/// ```
pub fn dumps(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value, (", ", ": "));
    out
}

/// `json.dumps(value, separators=(",", ":"))`: compact, otherwise the same.
///
/// ```
/// use django_charm::pyjson::dumps_compact;
/// let v = serde_json::json!({"b": [1, 2.5], "a": "café"});
/// assert_eq!(dumps_compact(&v), r#"{"b":[1,2.5],"a":"caf\u00e9"}"#);
/// ```
pub fn dumps_compact(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value, (",", ":"));
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

/// Write `value` with these (item, key) separators.
fn write_value(out: &mut String, value: &Value, separators: (&str, &str)) {
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
                    out.push_str(separators.0);
                }
                write_value(out, item, separators);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(separators.0);
                }
                write_string(out, k);
                out.push_str(separators.1);
                write_value(out, v, separators);
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

/// Python's `repr(float)`: the shortest round-trip digits, in fixed notation for
/// exponents from -4 to 15, else scientific with a signed two-digit exponent.
pub fn python_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    // `{:e}` gives the shortest digits that round-trip, e.g. `1.5e0`, `1e21`, `-1e-5`.
    let sci = format!("{f:e}");
    let Some((mantissa, exp)) = sci.split_once('e') else {
        return sci;
    };
    let Ok(exp) = exp.parse::<i32>() else {
        return sci;
    };
    if (-4..16).contains(&exp) {
        let fixed = format!("{f}");
        if fixed.contains('.') {
            fixed
        } else {
            format!("{fixed}.0")
        }
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_float_repr_matches_python() {
        for (f, s) in [
            (0.5, "0.5"),
            (1.5, "1.5"),
            (1e21, "1e+21"),
            (1e-5, "1e-05"),
            (1.0, "1.0"),
            (0.1, "0.1"),
            (123456789.125, "123456789.125"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (0.0001, "0.0001"),
            (-2.5e-7, "-2.5e-07"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
        ] {
            assert_eq!(python_float_repr(f), s, "{f}");
        }
    }

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
