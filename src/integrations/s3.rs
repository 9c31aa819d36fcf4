//! The `s3` requirer (`INTERFACES.md` 6): we ask for a bucket named after the
//! application; the provider answers in its app bag with plain (non-secret) credentials
//! and settings, which become the `S3_*` variables.

use indexmap::IndexMap;
use serde_json::Value;

use crate::integrations::Readiness;
use crate::integrations::kind::{
    EnvFn, EventError, EventHost, OnChanged, ProviderData, Reaction, ReadFn, RelationHooks,
    leader_writes,
};
use crate::juju::context::{RelationEvent, RelationId};
use crate::juju::relations::RelationReader;
use crate::juju::tools::{Databag, ToolError};
use crate::pyjson;

pub const ENDPOINT: &str = "s3";
pub const INTERFACE: &str = "s3";

/// What the provider published on the relation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct S3Data {
    /// The remote application databag.
    pub app_bag: Databag,
}

/// Read the provider's app bag; a relation that is gone reads as empty.
pub fn read(
    src: &mut (impl RelationReader + ?Sized),
    rel: &RelationId,
    remote_app: &str,
) -> Result<S3Data, ToolError> {
    let app_bag = src.app_bag(rel, remote_app)?.unwrap_or_default();
    Ok(S3Data { app_bag })
}

/// What the leader writes on `s3-relation-joined`: the bucket it wants.
pub fn requirer_app_data(app: &str) -> Databag {
    [("bucket".to_string(), app.to_string())]
        .into_iter()
        .collect()
}

/// Whether `s3-relation-changed` reconciles (with migrations): the provider has
/// published both keys.
pub fn changed_triggers_reconcile(remote_app_bag: &Databag) -> bool {
    remote_app_bag.contains_key("access-key") && remote_app_bag.contains_key("secret-key")
}

/// What `s3-relation-changed` calls for.
pub fn on_changed(remote_app_bag: &Databag) -> Reaction {
    Reaction::reconcile_if(changed_triggers_reconcile(remote_app_bag), true)
}

/// The provider's settings after the read rule and validation of 6.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct S3Parameters {
    pub access_key: String,
    pub secret_key: String,
    pub bucket: String,
    pub region: Option<String>,
    pub storage_class: Option<String>,
    pub endpoint: Option<String>,
    pub path: Option<String>,
    pub api_version: Option<String>,
    pub uri_style: Option<String>,
    pub tls_ca_chain: Option<Vec<String>>,
    pub attributes: Option<Vec<String>>,
}

/// The provider's value after the read rule: JSON when it parses, else the raw string.
fn decode(raw: &str) -> Value {
    serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string()))
}

/// A field that must be a string or null. A value that decodes to a number or a
/// boolean is a string that merely looks like one, so the raw text is kept
/// (`DJANGO.md` 17, item 12). `Err` for lists and objects.
fn string_field(bag: &Databag, key: &str) -> Result<Option<String>, ()> {
    let Some(raw) = bag.get(key) else {
        return Ok(None);
    };
    match decode(raw) {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        Value::Number(_) | Value::Bool(_) => Ok(Some(raw.clone())),
        Value::Array(_) | Value::Object(_) => Err(()),
    }
}

/// A field that must be a list of strings or null.
fn string_list_field(bag: &Databag, key: &str) -> Result<Option<Vec<String>>, ()> {
    let Some(raw) = bag.get(key) else {
        return Ok(None);
    };
    match decode(raw) {
        Value::Null => Ok(None),
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::String(s) => Ok(s),
                _ => Err(()),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        _ => Err(()),
    }
}

/// Validate the provider's bag (`INTERFACES.md` 6, "Ready / invalid").
pub fn parameters(bag: &Databag) -> Readiness<S3Parameters> {
    if bag.is_empty() {
        return Readiness::NotReady;
    }
    let parsed = (|| -> Result<S3Parameters, ()> {
        let required = |key: &str| string_field(bag, key)?.ok_or(());
        Ok(S3Parameters {
            access_key: required("access-key")?,
            secret_key: required("secret-key")?,
            bucket: required("bucket")?,
            region: string_field(bag, "region")?,
            storage_class: string_field(bag, "storage-class")?,
            endpoint: string_field(bag, "endpoint")?,
            path: string_field(bag, "path")?,
            api_version: string_field(bag, "s3-api-version")?,
            uri_style: string_field(bag, "s3-uri-style")?,
            tls_ca_chain: string_list_field(bag, "tls-ca-chain")?,
            attributes: string_list_field(bag, "attributes")?,
        })
    })();
    match parsed {
        Ok(p) => Readiness::Ready(p),
        Err(()) => Readiness::Invalid,
    }
}

/// The `S3_*` variables, in the order of the table in 6.
pub fn env(data: &S3Data) -> Readiness<IndexMap<String, String>> {
    let p = match parameters(&data.app_bag) {
        Readiness::Ready(p) => p,
        Readiness::NotReady => return Readiness::NotReady,
        Readiness::Invalid => return Readiness::Invalid,
    };
    let mut env = IndexMap::new();
    let mut put = |name: &str, value: Option<&String>| {
        if let Some(v) = value {
            env.insert(name.to_string(), v.clone());
        }
    };
    put("S3_ACCESS_KEY", Some(&p.access_key));
    put("S3_SECRET_KEY", Some(&p.secret_key));
    put("S3_REGION", p.region.as_ref());
    put("S3_STORAGE_CLASS", p.storage_class.as_ref());
    put("S3_BUCKET", Some(&p.bucket));
    put("S3_ENDPOINT", p.endpoint.as_ref());
    put("S3_PATH", p.path.as_ref());
    put("S3_API_VERSION", p.api_version.as_ref());
    put("S3_URI_STYLE", p.uri_style.as_ref());
    // boto3 calls the URI style "addressing style", and names host-style "virtual".
    let addressing = p.uri_style.as_ref().map(|style| match style.as_str() {
        "host" => "virtual".to_string(),
        other => other.to_string(),
    });
    put("S3_ADDRESSING_STYLE", addressing.as_ref());
    let json_list = |list: &Option<Vec<String>>| {
        list.as_ref()
            .filter(|l| !l.is_empty())
            .map(|l| pyjson::dumps_strings(l))
    };
    put("S3_ATTRIBUTES", json_list(&p.attributes).as_ref());
    // Independent of `attributes` and never `null` (`DJANGO.md` 17, item 3).
    put("S3_TLS_CA_CHAIN", json_list(&p.tls_ca_chain).as_ref());
    Readiness::Ready(env)
}

/// The handler of the `s3` row.
#[derive(Debug)]
pub struct S3;

impl ProviderData for S3 {
    type Data = S3Data;
    const READ: ReadFn<S3Data> = |src, rel, remote| read(src, rel, remote);
    const ENV: EnvFn<S3Data> = |data, _| env(data);
    const ON_CHANGED: OnChanged<S3Data> = OnChanged::Bag(on_changed);
}

impl RelationHooks for S3 {
    /// The leader asks for a bucket named after the app.
    fn joined_writes(
        &self,
        host: &mut dyn EventHost,
        event: &RelationEvent,
    ) -> Result<(), EventError> {
        let app = host.ctx().app_name.clone();
        leader_writes(host, event, || Ok(requirer_app_data(&app)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrations::testing::{FakeReader, ReadCall, bag, pairs};

    fn data(pairs: &[(&str, &str)]) -> S3Data {
        S3Data {
            app_bag: bag(pairs),
        }
    }

    fn ready(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        match env(&data(pairs)) {
            Readiness::Ready(env) => env.into_iter().collect(),
            other => panic!("expected ready, got {other:?}"),
        }
    }

    const CERT1: &str =
        "-----BEGIN CERTIFICATE-----\nTHE FIRST LONG CERTIFICATE\n-----END CERTIFICATE-----";
    const CERT2: &str =
        "-----BEGIN CERTIFICATE-----\nTHE SECOND LONG CERTIFICATE\n-----END CERTIFICATE-----";

    #[test]
    fn reference_example_full_env() {
        let chain = pyjson::dumps_strings(&[CERT1, CERT2]);
        let got = ready(&[
            ("access-key", "TESTINGACCESSKEY"),
            ("secret-key", "TESTINGSECRETKEYTESTINGSECRETKEY"),
            ("region", "us-west-1"),
            ("storage-class", "STANDARD"),
            ("bucket", "my-example-bucket"),
            ("endpoint", "https://s3.storagebucket.internal"),
            ("path", "uploads/"),
            ("s3-api-version", "2006-03-01"),
            ("s3-uri-style", "path"),
            ("tls-ca-chain", &chain),
            ("attributes", r#"["header1:value1", "header2:value2"]"#),
        ]);
        assert_eq!(
            got,
            pairs(&[
                ("S3_ACCESS_KEY", "TESTINGACCESSKEY"),
                ("S3_SECRET_KEY", "TESTINGSECRETKEYTESTINGSECRETKEY"),
                ("S3_REGION", "us-west-1"),
                ("S3_STORAGE_CLASS", "STANDARD"),
                ("S3_BUCKET", "my-example-bucket"),
                ("S3_ENDPOINT", "https://s3.storagebucket.internal"),
                ("S3_PATH", "uploads/"),
                ("S3_API_VERSION", "2006-03-01"),
                ("S3_URI_STYLE", "path"),
                ("S3_ADDRESSING_STYLE", "path"),
                ("S3_ATTRIBUTES", r#"["header1:value1", "header2:value2"]"#),
                (
                    "S3_TLS_CA_CHAIN",
                    r#"["-----BEGIN CERTIFICATE-----\nTHE FIRST LONG CERTIFICATE\n-----END CERTIFICATE-----", "-----BEGIN CERTIFICATE-----\nTHE SECOND LONG CERTIFICATE\n-----END CERTIFICATE-----"]"#
                ),
            ])
        );
    }

    #[test]
    fn chain_without_attributes() {
        let got = ready(&[
            ("access-key", "AK"),
            ("secret-key", "SK"),
            ("bucket", "b"),
            ("region", "eu-west-1"),
            ("s3-uri-style", "host"),
            (
                "tls-ca-chain",
                r#"["-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----"]"#,
            ),
        ]);
        assert_eq!(
            got,
            pairs(&[
                ("S3_ACCESS_KEY", "AK"),
                ("S3_SECRET_KEY", "SK"),
                ("S3_REGION", "eu-west-1"),
                ("S3_BUCKET", "b"),
                ("S3_URI_STYLE", "host"),
                ("S3_ADDRESSING_STYLE", "virtual"),
                (
                    "S3_TLS_CA_CHAIN",
                    r#"["-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----"]"#
                ),
            ])
        );
    }

    #[test]
    fn minimal_and_absent_values() {
        assert_eq!(
            ready(&[("access-key", "AK"), ("secret-key", "SK"), ("bucket", "b")]),
            pairs(&[
                ("S3_ACCESS_KEY", "AK"),
                ("S3_SECRET_KEY", "SK"),
                ("S3_BUCKET", "b"),
            ])
        );
        // `null`, empty lists and unknown keys produce nothing.
        assert_eq!(
            ready(&[
                ("access-key", "AK"),
                ("secret-key", "SK"),
                ("bucket", "b"),
                ("region", "null"),
                ("attributes", "[]"),
                ("tls-ca-chain", "null"),
                ("delete-older-than-days", "7"),
                ("data", r#"{"bucket": "blog"}"#),
            ]),
            pairs(&[
                ("S3_ACCESS_KEY", "AK"),
                ("S3_SECRET_KEY", "SK"),
                ("S3_BUCKET", "b"),
            ])
        );
    }

    #[test]
    fn keys_that_look_like_numbers_stay_as_written() {
        let got = ready(&[
            ("access-key", "12345"),
            ("secret-key", "1e5"),
            ("bucket", "true"),
            ("region", "007"),
            ("path", r#""quoted""#),
        ]);
        assert_eq!(
            got,
            pairs(&[
                ("S3_ACCESS_KEY", "12345"),
                ("S3_SECRET_KEY", "1e5"),
                ("S3_REGION", "007"),
                ("S3_BUCKET", "true"),
                // A JSON string decodes to its content, as in the reference.
                ("S3_PATH", "quoted"),
            ])
        );
    }

    #[test]
    fn not_ready_without_data() {
        assert_eq!(env(&S3Data::default()), Readiness::NotReady);
    }

    #[test]
    fn malformed_data_is_invalid() {
        let base = [("access-key", "AK"), ("secret-key", "SK"), ("bucket", "b")];
        let with = |extra: (&'static str, &'static str)| {
            let mut d = data(&base);
            d.app_bag.insert(extra.0.into(), extra.1.into());
            env(&d)
        };
        // Required strings missing or null.
        assert_eq!(env(&data(&[("bucket", "b")])), Readiness::Invalid);
        assert_eq!(
            env(&data(&[("access-key", "AK"), ("secret-key", "SK")])),
            Readiness::Invalid
        );
        assert_eq!(with(("access-key", "null")), Readiness::Invalid);
        // Strings that are lists or objects.
        assert_eq!(with(("bucket", "[\"b\"]")), Readiness::Invalid);
        assert_eq!(with(("region", "{\"a\": 1}")), Readiness::Invalid);
        assert_eq!(with(("s3-uri-style", "[]")), Readiness::Invalid);
        // Lists that are not lists of strings.
        assert_eq!(with(("attributes", "header1:value1")), Readiness::Invalid);
        assert_eq!(with(("attributes", "[1, 2]")), Readiness::Invalid);
        assert_eq!(with(("attributes", "\"a\"")), Readiness::Invalid);
        assert_eq!(with(("tls-ca-chain", "[null]")), Readiness::Invalid);
        assert_eq!(with(("tls-ca-chain", "-----BEGIN")), Readiness::Invalid);
        // Only unrelated keys: a non-empty bag without credentials.
        assert_eq!(env(&data(&[("foo", "bar")])), Readiness::Invalid);
    }

    #[test]
    fn our_write() {
        assert_eq!(requirer_app_data("blog"), bag(&[("bucket", "blog")]));
    }

    #[test]
    fn changed_event() {
        assert!(changed_triggers_reconcile(&bag(&[
            ("access-key", "a"),
            ("secret-key", "s")
        ])));
        assert!(!changed_triggers_reconcile(&bag(&[("access-key", "a")])));
        assert!(!changed_triggers_reconcile(&bag(&[
            ("secret-key", "s"),
            ("bucket", "b")
        ])));
        assert!(!changed_triggers_reconcile(&Databag::new()));
    }

    #[test]
    fn read_gets_the_remote_app_bag() {
        let rel = RelationId::new(ENDPOINT, 7);
        let mut src = FakeReader::new().app_bag(
            &rel,
            "s3-integrator",
            bag(&[("access-key", "a"), ("secret-key", "s"), ("bucket", "b")]),
        );
        let d = read(&mut src, &rel, "s3-integrator").unwrap();
        assert_eq!(d.app_bag.len(), 3);
        assert_eq!(src.calls, [ReadCall::app_bag("s3:7", "s3-integrator")]);
        let gone = read(&mut src, &RelationId::new(ENDPOINT, 8), "s3-integrator").unwrap();
        assert_eq!(gone, S3Data::default());
    }
}
