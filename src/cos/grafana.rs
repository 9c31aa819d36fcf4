//! `grafana-dashboard` (we provide `grafana_dashboard`, `INTERFACES.md` 16): the merged
//! dashboards, each with its uid and charm tag, xz-compressed and base64-encoded into
//! the `dashboards` app-bag value.

use base64::Engine;
use serde_json::{Map, Value, json};
use sha3::Shake256;
use sha3::digest::{ExtendableOutput, Update, XofReader};

use crate::cos::{Asset, GRAFANA_DASHBOARDS, Topology, in_subdir};
use crate::pyjson;

pub const ENDPOINT: &str = "grafana-dashboard";
pub const INTERFACE: &str = "grafana_dashboard";

/// The first `n` bytes of SHAKE-256 of `text`, as hex.
pub fn shake_hex(text: &str, n: usize) -> String {
    let mut hasher = Shake256::default();
    hasher.update(text.as_bytes());
    let mut out = vec![0u8; n];
    hasher.finalize_xof().read(&mut out);
    out.iter().map(|b| format!("{b:02x}")).collect()
}

const DASHBOARD_EXTENSIONS: [&str; 3] = [".json.tmpl", ".json", ".tmpl"];

fn dashboard_stem(name: &str) -> Option<&str> {
    DASHBOARD_EXTENSIONS
        .iter()
        .find_map(|ext| name.strip_suffix(ext))
}

fn is_uid(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The dashboard JSON as published (before compression).
pub fn dashboard_json(asset: &Asset, charm: &str) -> Option<String> {
    let Ok(Value::Object(mut dash)) = serde_json::from_str::<Value>(&asset.content) else {
        return None;
    };
    if !dash.get("uid").is_some_and(is_uid) {
        let path = format!("{charm}-cos_merged/{GRAFANA_DASHBOARDS}/{}", asset.name);
        dash.insert("uid".into(), Value::String(shake_hex(&path, 20)));
    }
    let tag = format!("charm: {charm}");
    let mut tags = match dash.get("tags") {
        Some(Value::Array(t)) => t.clone(),
        _ => vec![],
    };
    if !tags
        .iter()
        .any(|t| t.as_str().is_some_and(|s| s.starts_with("charm: ")))
    {
        tags.push(Value::String(tag));
    }
    dash.insert("tags".into(), Value::Array(tags));
    Some(pyjson::dumps(&Value::Object(dash)))
}

/// xz (LZMA2, preset 3, CRC64 check) then base64: the relation's encoding of
/// dashboard content.
pub fn encode_content(text: &str) -> String {
    use std::io::Write;
    let compress = || -> std::io::Result<Vec<u8>> {
        let mut writer =
            lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::with_preset(3))?;
        writer.write_all(text.as_bytes())?;
        writer.finish()
    };
    // Compressing into memory does not fail; if it did, the content would be empty and
    // the dashboard simply missing.
    base64::engine::general_purpose::STANDARD.encode(compress().unwrap_or_default())
}

/// Decode published content back to the dashboard JSON text.
pub fn decode_content(content: &str) -> Option<String> {
    use std::io::Read;
    let compressed = base64::engine::general_purpose::STANDARD
        .decode(content)
        .ok()?;
    let mut out = String::new();
    lzma_rust2::XzReader::new(compressed.as_slice(), false)
        .read_to_string(&mut out)
        .ok()?;
    Some(out)
}

/// The `templates` of the `dashboards` value, keyed `file:<stem>`.
pub fn templates(assets: &[Asset], t: &Topology) -> Map<String, Value> {
    let mut out = Map::new();
    for asset in in_subdir(assets, GRAFANA_DASHBOARDS) {
        let Some(stem) = dashboard_stem(&asset.name) else {
            continue;
        };
        let Some(json) = dashboard_json(asset, &t.charm_name) else {
            continue;
        };
        let key = format!("file:{stem}");
        out.insert(
            key.clone(),
            json!({
                "charm": t.charm_name,
                "content": encode_content(&json),
                "juju_topology": {
                    "model": t.model,
                    "model_uuid": t.model_uuid,
                    "application": t.application,
                    "unit": t.unit,
                },
                "inject_dropdowns": true,
                "dashboard_alt_uid": shake_hex(&format!("{}-{key}", t.charm_name), 8),
            }),
        );
    }
    out
}

/// Whether the published `dashboards` value already carries these templates (content
/// compared after decompression, so another encoder's bytes count as the same).
pub fn same_templates(published: Option<&str>, templates: &Map<String, Value>) -> bool {
    let Some(Ok(Value::Object(old))) = published.map(serde_json::from_str::<Value>) else {
        return false;
    };
    let Some(Value::Object(old)) = old.get("templates") else {
        return false;
    };
    let normalise = |m: &Map<String, Value>| -> Map<String, Value> {
        m.iter()
            .map(|(k, v)| {
                let mut v = v.clone();
                if let Some(obj) = v.as_object_mut()
                    && let Some(c) = obj.get("content").and_then(Value::as_str)
                {
                    let decoded = decode_content(c).unwrap_or_else(|| c.to_string());
                    obj.insert("content".into(), Value::String(decoded));
                }
                (k.clone(), v)
            })
            .collect()
    };
    normalise(old) == normalise(templates)
}

/// The `dashboards` value: templates and a fresh random UUID.
pub fn dashboards_value(templates: Map<String, Value>, uuid: &str) -> String {
    pyjson::dumps(&json!({"templates": templates, "uuid": uuid}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cos::builtin_assets;

    fn topology() -> Topology {
        Topology {
            model: "test-model".into(),
            model_uuid: "uuid".into(),
            application: "django-k8s".into(),
            unit: "django-k8s/0".into(),
            charm_name: "django-k8s".into(),
        }
    }

    #[test]
    fn uids_from_the_spec() {
        assert_eq!(shake_hex("django-k8s-file:django", 8), "7c3588da6f75c3aa");
        assert_eq!(
            shake_hex("django-k8s-cos_merged/grafana_dashboards/django.json", 20),
            "862a97a4c802c1bcb32978aff4d137629eae3bf7"
        );
    }

    #[test]
    fn the_builtin_dashboard_is_published_with_uid_and_tag() {
        let t = templates(&builtin_assets(), &topology());
        let entry = &t["file:django"];
        assert_eq!(entry["charm"], "django-k8s");
        assert_eq!(entry["dashboard_alt_uid"], "7c3588da6f75c3aa");
        assert_eq!(entry["inject_dropdowns"], true);
        assert_eq!(entry["juju_topology"]["unit"], "django-k8s/0");
        let keys: Vec<&String> = entry.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "charm",
                "content",
                "juju_topology",
                "inject_dropdowns",
                "dashboard_alt_uid"
            ]
        );
        let json: Value =
            serde_json::from_str(&decode_content(entry["content"].as_str().unwrap()).unwrap())
                .unwrap();
        assert_eq!(json["uid"], "862a97a4c802c1bcb32978aff4d137629eae3bf7");
        assert_eq!(json["title"], "Django Operator");
        let tags = json["tags"].as_array().unwrap();
        assert_eq!(tags.last().unwrap(), "charm: django-k8s");
    }

    #[test]
    fn existing_uid_and_charm_tag_are_kept() {
        let asset = Asset {
            subdir: GRAFANA_DASHBOARDS.into(),
            name: "custom_x.json.tmpl".into(),
            content: r#"{"title": "x", "uid": "0123456789abcdef0123456789abcdef01234567", "tags": ["charm: other"]}"#.into(),
        };
        assert_eq!(
            dashboard_json(&asset, "django-k8s").unwrap(),
            r#"{"title": "x", "uid": "0123456789abcdef0123456789abcdef01234567", "tags": ["charm: other"]}"#
        );
        assert_eq!(dashboard_stem("custom_x.json.tmpl"), Some("custom_x"));
    }

    #[test]
    fn content_is_xz_with_a_crc64_check_and_actually_compressed() {
        use base64::Engine;
        let text = "{\"title\": \"Django Operator\"}".repeat(200);
        let encoded = encode_content(&text);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&encoded)
            .unwrap();
        assert_eq!(&bytes[..6], b"\xfd7zXZ\x00", "xz magic");
        assert_eq!(bytes[7], 0x04, "stream flags: CRC64");
        assert!(bytes.len() < text.len() / 10, "{} bytes", bytes.len());
        assert_eq!(decode_content(&encoded).unwrap(), text);
    }

    #[test]
    fn rewritten_only_when_templates_differ() {
        let t = templates(&builtin_assets(), &topology());
        let value = dashboards_value(t.clone(), "u1");
        assert!(same_templates(Some(&value), &t));
        assert!(!same_templates(None, &t));
        assert!(!same_templates(Some("{}"), &t));
        let mut other = topology();
        other.unit = "django-k8s/1".into();
        assert!(!same_templates(
            Some(&value),
            &templates(&builtin_assets(), &other)
        ));
    }
}
