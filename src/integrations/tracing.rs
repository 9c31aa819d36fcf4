//! The `tracing` requirer (`INTERFACES.md` 9): the receiver request the leader rewrites
//! into our application bag in every handled hook, the provider's `otlp_http` endpoint,
//! the `OTEL_*` variables, and whether `gunicorn.conf.py` gets its OpenTelemetry lines.

use indexmap::IndexMap;
use serde_json::Value;

use crate::integrations::Readiness;
use crate::integrations::ingress::replace_bag;
use crate::integrations::kind::{
    EventError, EventHost, Integration, Reaction, ReadInput, Readout, RelationHooks,
};
use crate::integrations::url::normalise_url;
use crate::juju::context::{RelationEvent, RelationId};
use crate::juju::relations::RelationReader;
use crate::juju::tools::{Databag, ToolError};
use crate::pyjson;

pub const ENDPOINT: &str = "tracing";
pub const INTERFACE: &str = "tracing";

/// The one receiver protocol we request and use.
pub const PROTOCOL: &str = "otlp_http";

/// What one tracing relation holds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TracingData {
    /// The remote application bag (`receivers`).
    pub remote_app_bag: Databag,
    /// Our own application bag, read on the leader only (it alone may read and write
    /// it); the rewrite clears whatever it holds.
    pub own_app_bag: Option<Databag>,
}

/// One receiver the provider offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receiver {
    pub protocol: String,
    /// `http` or `grpc`.
    pub transport: String,
    pub url: String,
}

/// Read our own application bag of a tracing relation (leader only); `None` when the
/// relation is gone.
pub fn read_own_app_bag(
    src: &mut (impl RelationReader + ?Sized),
    rel: &RelationId,
    app: &str,
) -> Result<Option<Databag>, ToolError> {
    src.app_bag(rel, app)
}

/// Read the relation: the remote app bag and, on the leader, our own app bag. A relation
/// that is gone reads as empty data.
pub fn read(
    src: &mut (impl RelationReader + ?Sized),
    rel: &RelationId,
    remote_app: &str,
    app: &str,
    leader: bool,
) -> Result<TracingData, ToolError> {
    let remote_app_bag = src.app_bag(rel, remote_app)?.unwrap_or_default();
    let own_app_bag = if leader {
        read_own_app_bag(src, rel, app)?
    } else {
        None
    };
    Ok(TracingData {
        remote_app_bag,
        own_app_bag,
    })
}

/// Our application bag as the requirer library leaves it: only `receivers`.
pub fn requirer_app_data() -> Databag {
    let mut bag = Databag::new();
    bag.insert("receivers".into(), pyjson::dumps_strings(&[PROTOCOL]));
    bag
}

/// The `relation-set --app` payload of the leader's rewrite: every key already in our
/// bag is cleared (set to `""`, which Juju deletes) and `receivers` = `["otlp_http"]`.
pub fn app_bag_rewrite(own_app_bag: &Databag) -> Databag {
    replace_bag(own_app_bag, &requirer_app_data())
}

/// The provider's receivers, when `receivers` is a JSON list of
/// `{"protocol": {"name": <str>, "type": "http"|"grpc"}, "url": <str>}` (other keys are
/// ignored); `None` when it is missing or has any other shape.
pub fn receivers(remote_app_bag: &Databag) -> Option<Vec<Receiver>> {
    let raw = remote_app_bag.get("receivers")?;
    let Value::Array(items) = serde_json::from_str::<Value>(raw).ok()? else {
        return None;
    };
    items
        .iter()
        .map(|item| {
            let protocol = item.get("protocol")?;
            let name = protocol.get("name")?.as_str()?;
            let transport = protocol.get("type")?.as_str()?;
            if !matches!(transport, "http" | "grpc") {
                return None;
            }
            Some(Receiver {
                protocol: name.to_string(),
                transport: transport.to_string(),
                url: item.get("url")?.as_str()?.to_string(),
            })
        })
        .collect()
}

/// The normalised OTLP HTTP endpoint: not ready without a well-formed `otlp_http`
/// receiver, invalid when its URL is not a URL (`DJANGO.md` 17 item 5: the reference
/// raises there).
pub fn endpoint(data: &TracingData) -> Readiness<String> {
    let Some(receivers) = receivers(&data.remote_app_bag) else {
        return Readiness::NotReady;
    };
    let Some(receiver) = receivers.iter().find(|r| r.protocol == PROTOCOL) else {
        return Readiness::NotReady;
    };
    // pydantic `AnyUrl`, not `AnyHttpUrl`: any scheme with a host passes.
    match normalise_url(&receiver.url, false) {
        Ok(url) => Readiness::Ready(url),
        Err(_) => Readiness::Invalid,
    }
}

/// `OTEL_SERVICE_NAME` and `OTEL_EXPORTER_OTLP_ENDPOINT`.
pub fn env(data: &TracingData, app: &str) -> Readiness<IndexMap<String, String>> {
    match endpoint(data) {
        Readiness::Ready(url) => {
            let mut env = IndexMap::new();
            env.insert("OTEL_SERVICE_NAME".to_string(), app.to_string());
            env.insert("OTEL_EXPORTER_OTLP_ENDPOINT".to_string(), url);
            Readiness::Ready(env)
        }
        Readiness::NotReady => Readiness::NotReady,
        Readiness::Invalid => Readiness::Invalid,
    }
}

/// Whether `gunicorn.conf.py` carries the OpenTelemetry lines (`DJANGO.md` 7.1): exactly
/// when the integration is ready. (Invalid data blocks the hook before the file is
/// written, so it never reaches here as "ready".)
pub fn gunicorn_tracing_enabled(data: &TracingData) -> bool {
    endpoint(data).is_ready()
}

/// The handler of the `tracing` row. Our own app bag is rewritten by every hook on the
/// leader, before anything else (`charm`).
#[derive(Debug)]
pub struct Tracing;

impl Integration for Tracing {
    /// The state reads the provider's bag only (not ours: that is the leader's prelude).
    fn read(
        &self,
        src: &mut dyn RelationReader,
        input: &ReadInput<'_>,
    ) -> Result<Readout, ToolError> {
        let data = read(src, input.rel, input.remote_app, input.app, false)?;
        Ok(Readout::env(env(&data, input.app)))
    }

    fn on_changed(
        &self,
        _host: &mut dyn EventHost,
        _event: &RelationEvent,
    ) -> Result<Reaction, EventError> {
        Ok(Reaction::Reconcile { migrations: false })
    }
}

impl RelationHooks for Tracing {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrations::testing::{FakeReader, ReadCall, bag};

    fn remote(receivers: &str) -> TracingData {
        TracingData {
            remote_app_bag: bag(&[("receivers", receivers)]),
            own_app_bag: None,
        }
    }

    fn expect(r: Readiness<IndexMap<String, String>>, expected: &[(&str, &str)]) {
        let Readiness::Ready(vars) = r else {
            panic!("not ready: {r:?}");
        };
        let got: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn spec_examples() {
        expect(
            env(
                &remote(
                    r#"[{"protocol": {"name": "otlp_http", "type": "http"}, "url": "http://test-ip:4318"}]"#,
                ),
                "blog",
            ),
            &[
                ("OTEL_SERVICE_NAME", "blog"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://test-ip:4318/"),
            ],
        );
        expect(
            env(
                &remote(
                    r#"[{"protocol": {"name": "otlp_grpc", "type": "grpc"}, "url": "tempo:4317"}, {"protocol": {"name": "otlp_http", "type": "http"}, "url": "http://localhost:4318/tracing", "extra": 1}]"#,
                ),
                "blog",
            ),
            &[
                ("OTEL_SERVICE_NAME", "blog"),
                (
                    "OTEL_EXPORTER_OTLP_ENDPOINT",
                    "http://localhost:4318/tracing",
                ),
            ],
        );
    }

    #[test]
    fn an_unusable_url_is_invalid() {
        let data =
            remote(r#"[{"protocol": {"name": "otlp_http", "type": "http"}, "url": "not_a_url"}]"#);
        assert_eq!(env(&data, "blog"), Readiness::Invalid);
        assert!(!gunicorn_tracing_enabled(&data));
        for url in ["http://", "http://h:99999"] {
            let data = remote(&format!(
                r#"[{{"protocol": {{"name": "otlp_http", "type": "http"}}, "url": "{url}"}}]"#
            ));
            assert_eq!(endpoint(&data), Readiness::Invalid, "{url}");
        }
    }

    #[test]
    fn malformed_or_incomplete_receivers_are_not_ready() {
        assert_eq!(env(&TracingData::default(), "blog"), Readiness::NotReady);
        for receivers in [
            "not json",
            "null",
            "{}",
            "[]",
            r#"[{"protocol": {"name": "otlp_grpc", "type": "grpc"}, "url": "tempo:4317"}]"#,
            r#"[{"protocol": {"name": "otlp_http", "type": "tcp"}, "url": "http://t:4318"}]"#,
            r#"[{"protocol": {"name": "otlp_http"}, "url": "http://t:4318"}]"#,
            r#"[{"protocol": {"name": 1, "type": "http"}, "url": "http://t:4318"}]"#,
            r#"[{"protocol": {"name": "otlp_http", "type": "http"}}]"#,
            r#"[{"protocol": {"name": "otlp_http", "type": "http"}, "url": 4318}]"#,
            r#"[{"protocol": "otlp_http", "url": "http://t:4318"}]"#,
            // One malformed entry spoils the whole list, as the model fails to load.
            r#"[{"protocol": {"name": "otlp_http", "type": "http"}, "url": "http://t:4318"}, 3]"#,
        ] {
            let data = remote(receivers);
            assert_eq!(env(&data, "blog"), Readiness::NotReady, "{receivers}");
            assert!(!gunicorn_tracing_enabled(&data));
        }
    }

    #[test]
    fn gunicorn_follows_readiness() {
        let data = remote(
            r#"[{"protocol": {"name": "otlp_http", "type": "http"}, "url": "http://Tempo.Example:80"}]"#,
        );
        assert!(gunicorn_tracing_enabled(&data));
        assert_eq!(
            endpoint(&data),
            Readiness::Ready("http://tempo.example/".into())
        );
    }

    #[test]
    fn the_rewrite_clears_every_key_and_requests_otlp_http() {
        assert_eq!(
            app_bag_rewrite(&Databag::new()),
            bag(&[("receivers", r#"["otlp_http"]"#)])
        );
        let existing = bag(&[
            ("receivers", r#"["otlp_grpc"]"#),
            ("stale", "x"),
            ("egress-subnets", "10.0.0.1/32"),
        ]);
        let payload = app_bag_rewrite(&existing);
        let got: Vec<(&str, &str)> = payload
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("stale", ""),
                ("egress-subnets", ""),
                ("receivers", r#"["otlp_http"]"#)
            ]
        );
    }

    /// Relation `tracing:5` with tempo's receivers and our own app bag (`blog`).
    fn reader() -> FakeReader {
        let rel = RelationId::new("tracing", 5);
        FakeReader::new()
            .app_bag(
                &rel,
                "tempo",
                bag(&[(
                    "receivers",
                    r#"[{"protocol": {"name": "otlp_http", "type": "http"}, "url": "http://tempo:4318"}]"#,
                )]),
            )
            .app_bag(
                &rel,
                "blog",
                bag(&[("receivers", r#"["otlp_grpc"]"#), ("old", "1")]),
            )
    }

    /// `bag` after a `relation-set` of `updates`, as Juju applies one: an empty value
    /// deletes its key.
    fn after_relation_set(bag: &Databag, updates: &Databag) -> Databag {
        let mut out = bag.clone();
        for (k, v) in updates {
            if v.is_empty() {
                out.shift_remove(k);
            } else {
                out.insert(k.clone(), v.clone());
            }
        }
        out
    }

    #[test]
    fn read_on_the_leader_and_elsewhere() {
        let rel = RelationId::new("tracing", 5);
        let mut src = reader();
        let data = read(&mut src, &rel, "tempo", "blog", true).unwrap();
        assert_eq!(
            src.calls,
            vec![
                ReadCall::app_bag("tracing:5", "tempo"),
                ReadCall::app_bag("tracing:5", "blog"),
            ]
        );
        let own = data.own_app_bag.clone().unwrap();
        assert_eq!(own["old"], "1");
        assert_eq!(
            after_relation_set(&own, &app_bag_rewrite(&own)),
            requirer_app_data()
        );
        assert!(gunicorn_tracing_enabled(&data));

        let mut src = reader();
        let data = read(&mut src, &rel, "tempo", "blog", false).unwrap();
        assert_eq!(data.own_app_bag, None);
        assert_eq!(src.calls.len(), 1);

        let gone = read(
            &mut src,
            &RelationId::new("tracing", 9),
            "tempo",
            "blog",
            true,
        );
        assert_eq!(gone.unwrap(), TracingData::default());
    }
}
