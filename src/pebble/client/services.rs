//! The calls about what Pebble runs that start no change (`CONTRACT.md` E.2–E.5, E.7,
//! E.13): system info, the plan and its layers, service and check listings, and signals.
//! Each is one request and one answer; the service actions that do start a change are
//! in `changes`.

use serde::Deserialize;
use serde_json::{Value, json};

use super::PebbleClient;
use super::transport::decode_result;
use crate::pebble::{CheckInfo, Layer, PebbleError, Plan, Result, ServiceInfo, SystemInfo};

impl PebbleClient {
    pub(super) async fn system_info_async(&self) -> Result<SystemInfo> {
        let envelope = self.get("/v1/system-info", &[]).await?;
        let version = envelope
            .result
            .get("version")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        Ok(SystemInfo { version })
    }

    pub(super) async fn get_plan_async(&self) -> Result<Plan> {
        let envelope = self.get("/v1/plan", &[("format", "yaml")]).await?;
        let yaml = envelope.result.as_str().ok_or_else(|| {
            PebbleError::Protocol("GET /v1/plan: result is not a YAML string".to_string())
        })?;
        Layer::from_yaml(yaml).map_err(|e| PebbleError::Protocol(format!("GET /v1/plan: {e}")))
    }

    pub(super) async fn add_layer_async(
        &self,
        label: &str,
        layer: &Layer,
        combine: bool,
    ) -> Result<()> {
        let yaml = layer
            .to_yaml()
            .map_err(|e| PebbleError::Protocol(format!("layer {label:?}: {e}")))?;
        let body = json!({
            "action": "add",
            "combine": combine,
            "label": label,
            "format": "yaml",
            "layer": yaml,
        });
        self.post("/v1/layers", body).await?;
        Ok(())
    }

    pub(super) async fn services_async(&self, names: &[String]) -> Result<Vec<ServiceInfo>> {
        let joined = names.join(",");
        let query: &[(&str, &str)] = if names.is_empty() {
            &[]
        } else {
            &[("names", joined.as_str())]
        };
        let envelope = self.get("/v1/services", query).await?;
        let entries: Vec<ServiceJson> = decode_result("GET /v1/services", envelope.result)?;
        Ok(entries
            .into_iter()
            .map(|s| ServiceInfo {
                name: s.name,
                startup: s.startup,
                current: s.current,
            })
            .collect())
    }

    pub(super) async fn send_signal_async(&self, signal: &str, services: &[String]) -> Result<()> {
        self.post(
            "/v1/signals",
            json!({"signal": signal, "services": services}),
        )
        .await?;
        Ok(())
    }

    pub(super) async fn checks_async(
        &self,
        level: Option<&str>,
        names: &[String],
    ) -> Result<Vec<CheckInfo>> {
        let mut query: Vec<(&str, &str)> = Vec::new();
        if let Some(level) = level {
            query.push(("level", level));
        }
        query.extend(names.iter().map(|n| ("names", n.as_str())));
        let envelope = self.get("/v1/checks", &query).await?;
        let entries: Vec<CheckJson> = decode_result("GET /v1/checks", envelope.result)?;
        Ok(entries.into_iter().map(CheckJson::into_info).collect())
    }
}

#[derive(Debug, Deserialize)]
struct ServiceJson {
    name: String,
    #[serde(default)]
    startup: String,
    #[serde(default)]
    current: String,
}

#[derive(Debug, Deserialize)]
struct CheckJson {
    name: String,
    #[serde(default)]
    level: Option<String>,
    #[serde(default)]
    startup: Option<String>,
    #[serde(default)]
    status: String,
    #[serde(default)]
    failures: u64,
    #[serde(default)]
    threshold: u64,
    #[serde(rename = "change-id", default)]
    change_id: Option<String>,
}

impl CheckJson {
    fn into_info(self) -> CheckInfo {
        // As ops does: a check Pebble knows the startup of but runs no change for is
        // stopped, whatever an older Pebble put in `status`.
        let status = if self.startup.is_some() && self.change_id.is_none() {
            "inactive".to_string()
        } else {
            self.status
        };
        CheckInfo {
            name: self.name,
            level: self.level.unwrap_or_default(),
            status,
            failures: self.failures,
            threshold: self.threshold,
        }
    }
}

#[cfg(test)]
mod tests {
    //! Plan and layer requests on the wire, and error envelopes mapped to
    //! [`PebbleError::Api`].

    use super::*;
    use crate::pebble::Pebble;
    use crate::pebble::client::test_server::{Responder, error, sync, unexpected};

    #[test]
    fn system_info_and_plan_are_read() {
        let responder = Responder::start(|r| match r.path() {
            "/v1/system-info" => sync(json!({"boot-id": "x", "version": "v1.19.2"})),
            "/v1/plan" => sync(json!(
                "services:\n    web:\n        startup: enabled\n        override: replace\n        command: /bin/web\n"
            )),
            _ => unexpected(r),
        });
        let mut client = responder.client();
        assert_eq!(client.system_info().unwrap().version, "v1.19.2");
        let plan = client.get_plan().unwrap();
        assert_eq!(plan.services["web"].command.as_deref(), Some("/bin/web"));
        let requests = responder.requests();
        assert_eq!(requests[0].header("accept"), Some("application/json"));
        assert_eq!(requests[0].header("host"), Some("localhost"));
        assert_eq!(requests[1].target, "/v1/plan?format=yaml");
    }

    #[test]
    fn add_layer_sends_yaml_and_maps_error_envelopes() {
        let responder = Responder::start(|r| {
            if r.json()["label"] == "bad" {
                error(
                    400,
                    "layer \"bad\" must define \"override\" for service \"web\"",
                    None,
                )
            } else {
                sync(json!(true))
            }
        });
        let mut client = responder.client();
        let layer =
            Layer::from_yaml("services:\n  web:\n    override: replace\n    command: /bin/web\n")
                .unwrap();
        client.add_layer("django", &layer, true).unwrap();
        let err = client.add_layer("bad", &layer, false).unwrap_err();
        assert_eq!(
            err,
            PebbleError::Api {
                status: 400,
                what: "POST /v1/layers".to_string(),
                message: "layer \"bad\" must define \"override\" for service \"web\"".to_string(),
                kind: None,
            }
        );
        let sent = &responder.requests()[0];
        assert_eq!(sent.method, "POST");
        assert_eq!(sent.header("content-type"), Some("application/json"));
        let body = sent.json();
        assert_eq!(body["action"], "add");
        assert_eq!(body["combine"], true);
        assert_eq!(body["format"], "yaml");
        let sent_layer = Layer::from_yaml(body["layer"].as_str().unwrap()).unwrap();
        assert_eq!(sent_layer, layer);
    }
}
