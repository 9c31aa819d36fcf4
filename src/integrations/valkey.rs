//! The `valkey` requirer (`INTERFACES.md` 5), on the data-interfaces "v1" contract: the
//! leader asks for one resource (`*`) with a salted request id; the provider answers
//! with a list of responses whose credentials live in Juju secrets. This module owns
//! the request we write, the `data` snapshot each unit keeps to notice the credentials
//! arriving, the reads (app bag and secrets) and the `VALKEY_*` variables.

use indexmap::IndexMap;
use serde_json::{Map, Value};

use crate::integrations::kind::{
    EventError, EventHost, Integration, Reaction, ReadInput, Readout, RelationHooks, leader_writes,
    our_unit_and_remote_app_bags,
};
use crate::integrations::url::url_env;
use crate::integrations::{Readiness, SecretLookup};
use crate::juju::context::{RelationEvent, RelationId};
use crate::juju::relations::RelationReader;
use crate::juju::tools::{Databag, SecretRead, ToolError};
use crate::pyjson;
use crate::random::{self, RandomError};

pub const ENDPOINT: &str = "valkey";
pub const INTERFACE: &str = "valkey_client";

/// The variable prefix of 1.3.
const PREFIX: &str = "VALKEY_DB";
/// The one resource we request: the whole keyspace.
pub const RESOURCE: &str = "*";
/// The contract version we speak.
const CONTRACT_VERSION: &str = "v1";
/// Salts are 16 characters from this alphabet.
const SALT_LEN: usize = 16;

/// The secret pointers of a response we resolve, with the secret group they name.
const SECRET_POINTERS: [(&str, &str); 2] = [("secret-user", "user"), ("secret-tls", "tls")];
/// Response fields that must be a string when present (or null).
const OPTIONAL_STRINGS: [&str; 14] = [
    "request-id",
    "endpoints",
    "read-only-endpoints",
    "version",
    "prefix-resources",
    "sentinel-endpoints",
    "mode",
    "username",
    "password",
    "uris",
    "read-only-uris",
    "tls-ca",
    "entity-name",
    "entity-password",
];
/// Response fields holding secret URIs (`secret:...`, or null).
const SECRET_URI_FIELDS: [&str; 4] = ["secret-user", "secret-tls", "secret-extra", "secret-entity"];
/// Fields whose values are secret contents: never copied into the snapshot, as the
/// contract's own models exclude them when they serialise a response.
const SECRET_VALUE_FIELDS: [&str; 8] = [
    "username",
    "password",
    "uris",
    "read-only-uris",
    "tls",
    "tls-ca",
    "entity-name",
    "entity-password",
];

/// What the provider published on the relation, with the secrets it points to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ValkeyData {
    /// How many `valkey` relations exist (the broken one excluded); 0 means none.
    pub relation_count: usize,
    /// The remote application databag of the first relation.
    pub app_bag: Databag,
    /// The secrets the responses point to (`secret-user`, `secret-tls`), by URI.
    pub secrets: IndexMap<String, SecretLookup>,
}

// ---------------------------------------------------------------------------------------
// Our request (5.1)

/// The first 16 hex digits of `sha256("<resource>:<salt>")`: how the contract derives a
/// request id, so both sides can recompute it.
pub fn request_id(resource: &str, salt: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("{resource}:{salt}").as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// A fresh salt: 16 random characters from `[A-Za-z0-9]`.
pub fn random_salt() -> Result<String, RandomError> {
    random::alphanumeric(SALT_LEN)
}

/// What the leader writes on `valkey-relation-created` (app bag), for a given salt.
pub fn request(salt: &str) -> Databag {
    let mut req = Map::new();
    req.insert("resource".into(), RESOURCE.into());
    req.insert("request-id".into(), request_id(RESOURCE, salt).into());
    req.insert("salt".into(), salt.into());
    req.insert("extra-user-roles".into(), Value::Null);
    req.insert("extra-group-roles".into(), Value::Null);
    req.insert("external-node-connectivity".into(), false.into());
    req.insert("entity-type".into(), Value::Null);
    req.insert("entity-permissions".into(), Value::Null);
    req.insert("secret-mtls".into(), Value::Null);
    let mut bag = Databag::new();
    bag.insert("version".into(), CONTRACT_VERSION.into());
    bag.insert(
        "requests".into(),
        pyjson::dumps(&Value::Array(vec![Value::Object(req)])),
    );
    bag
}

// ---------------------------------------------------------------------------------------
// Reading the responses

/// The responses as the provider wrote them, without any validation: what the snapshot
/// and the event decision look at. Items that are not objects are skipped.
fn raw_responses(bag: &Databag) -> Vec<Map<String, Value>> {
    let Some(Ok(Value::Array(items))) = bag
        .get("requests")
        .map(|raw| serde_json::from_str::<Value>(raw))
    else {
        return Vec::new();
    };
    items
        .into_iter()
        .filter_map(|item| match item {
            Value::Object(map) => Some(map),
            _ => None,
        })
        .collect()
}

/// A bag value after the contract's read rule: JSON when it parses, else the raw text.
fn decode(raw: &str) -> Value {
    serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string()))
}

fn is_str_or_null(v: Option<&Value>) -> bool {
    matches!(v, None | Some(Value::Null | Value::String(_)))
}

/// pydantic's lax `bool`: booleans, 0/1, and the usual yes/no words.
fn lax_bool(v: &Value) -> Result<Option<bool>, ()> {
    match v {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(*b)),
        Value::Number(n) => match n.as_f64() {
            Some(0.0) => Ok(Some(false)),
            Some(1.0) => Ok(Some(true)),
            _ => Err(()),
        },
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "0" | "off" | "f" | "false" | "n" | "no" => Ok(Some(false)),
            "1" | "on" | "t" | "true" | "y" | "yes" => Ok(Some(true)),
            _ => Err(()),
        },
        Value::Array(_) | Value::Object(_) => Err(()),
    }
}

/// Python truthiness of a JSON value.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// One response checked against the contract's response model.
fn validate_response(item: &Value) -> Result<&Map<String, Value>, ()> {
    let Value::Object(obj) = item else {
        return Err(());
    };
    // `resource` and `salt` are plain strings with defaults: absent is fine, null is not.
    for key in ["resource", "salt"] {
        if !matches!(obj.get(key), None | Some(Value::String(_))) {
            return Err(());
        }
    }
    if !OPTIONAL_STRINGS.iter().all(|k| is_str_or_null(obj.get(*k))) {
        return Err(());
    }
    let uri_ok = |k: &&str| match obj.get(*k) {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.contains("secret:"),
        Some(_) => false,
    };
    if !SECRET_URI_FIELDS.iter().all(uri_ok) {
        return Err(());
    }
    if let Some(tls) = obj.get("tls") {
        lax_bool(tls)?;
    }
    Ok(obj)
}

/// The responses of a well-formed bag (`Err` when the bag does not match the model).
fn responses(bag: &Databag) -> Result<Vec<Map<String, Value>>, ()> {
    if let Some(raw) = bag.get("version")
        && decode(raw) != Value::String(CONTRACT_VERSION.into())
    {
        return Err(());
    }
    let Some(raw) = bag.get("requests") else {
        return Ok(Vec::new());
    };
    let Value::Array(items) = decode(raw) else {
        return Err(());
    };
    items
        .iter()
        .map(|item| validate_response(item).cloned())
        .collect()
}

fn str_field<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    obj.get(key).and_then(Value::as_str)
}

/// The id a response answers: its `request-id`, else the one derived from its salt.
fn response_id(obj: &Map<String, Value>) -> Option<String> {
    match str_field(obj, "request-id").filter(|id| !id.is_empty()) {
        Some(id) => Some(id.to_string()),
        None => str_field(obj, "salt")
            .map(|salt| request_id(str_field(obj, "resource").unwrap_or(""), salt)),
    }
}

/// The label under which the contract registers a response's secret:
/// `valkey.<relation-id>.<request-id>.<group>.secret`.
pub fn secret_label(rel: &RelationId, response_id: Option<&str>, group: &str) -> String {
    match response_id {
        Some(id) => format!("{}.{}.{id}.{group}.secret", rel.endpoint, rel.id),
        None => format!("{}.{}.{group}.secret", rel.endpoint, rel.id),
    }
}

/// Read the provider data of the first relation: its app bag, then each secret its
/// responses point to (`secret-get <uri> --label <label> --refresh`, once per URI).
/// `relation_count` is the number of `valkey` relations (more than one is invalid).
pub fn read(
    src: &mut (impl RelationReader + ?Sized),
    rel: &RelationId,
    remote_app: &str,
    relation_count: usize,
) -> Result<ValkeyData, ToolError> {
    let app_bag = src.app_bag(rel, remote_app)?.unwrap_or_default();
    let mut secrets = IndexMap::new();
    // Malformed responses make the data invalid whatever the secrets say.
    for response in responses(&app_bag).unwrap_or_default() {
        let id = response_id(&response);
        for (pointer, group) in SECRET_POINTERS {
            let Some(uri) = str_field(&response, pointer) else {
                continue;
            };
            if secrets.contains_key(uri) {
                continue;
            }
            let label = secret_label(rel, id.as_deref(), group);
            let lookup = match src.secret(uri, Some(&label), SecretRead::Refresh)? {
                Some(content) => SecretLookup::Found(content),
                None => SecretLookup::Unreadable,
            };
            secrets.insert(uri.to_string(), lookup);
        }
    }
    Ok(ValkeyData {
        relation_count,
        app_bag,
        secrets,
    })
}

// ---------------------------------------------------------------------------------------
// Readiness and variables (5.3)

/// A response with its secrets resolved.
struct Resolved {
    endpoints: Option<String>,
    username: Option<String>,
    password: Option<String>,
    tls: bool,
    read_only_endpoints: Option<String>,
    sentinel_endpoints: Option<String>,
    mode: Option<String>,
    version: Option<String>,
}

/// Resolve a response's secrets: a pointer whose secret is found replaces the plain
/// fields of its group (even with nothing, as the contract does); an unreadable one
/// makes the data invalid.
fn resolve(
    obj: &Map<String, Value>,
    secrets: &IndexMap<String, SecretLookup>,
) -> Result<Resolved, ()> {
    let content = |pointer: &str| -> Result<Option<&Databag>, ()> {
        match str_field(obj, pointer) {
            None => Ok(None),
            Some(uri) => match secrets.get(uri) {
                Some(SecretLookup::Found(c)) => Ok(Some(c)),
                // Not read (or not readable): we cannot know the credentials.
                _ => Err(()),
            },
        }
    };
    let plain = |key: &str| str_field(obj, key).map(String::from);
    let (username, password) = match content("secret-user")? {
        Some(c) => (c.get("username").cloned(), c.get("password").cloned()),
        None => (plain("username"), plain("password")),
    };
    let tls = match content("secret-tls")? {
        // Secret content is text; the contract JSON-decodes the `tls` flag.
        Some(c) => match c.get("tls").filter(|t| !t.is_empty()) {
            Some(t) => truthy(&serde_json::from_str::<Value>(t).map_err(|_| ())?),
            None => false,
        },
        None => match obj.get("tls") {
            Some(v) => lax_bool(v)?.unwrap_or(false),
            None => false,
        },
    };
    Ok(Resolved {
        endpoints: plain("endpoints"),
        username,
        password,
        tls,
        read_only_endpoints: plain("read-only-endpoints"),
        sentinel_endpoints: plain("sentinel-endpoints"),
        mode: plain("mode"),
        version: plain("version"),
    })
}

/// The connection URL of a response: credentials (when there is a username) go in
/// front of the endpoints; `valkey://` unless the endpoints carry their own scheme.
fn connect_url(r: &Resolved, endpoints: &str) -> String {
    let userinfo = match r.username.as_deref().filter(|u| !u.is_empty()) {
        Some(user) => format!("{user}:{}@", r.password.as_deref().unwrap_or("")),
        None => String::new(),
    };
    match endpoints.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{userinfo}{rest}"),
        None => format!("valkey://{userinfo}{endpoints}"),
    }
}

/// The `VALKEY_*` variables (`INTERFACES.md` 5.3).
pub fn env(data: &ValkeyData) -> Readiness<IndexMap<String, String>> {
    match data.relation_count {
        0 => return Readiness::NotReady,
        1 => {}
        _ => return Readiness::Invalid,
    }
    let Ok(responses) = responses(&data.app_bag) else {
        return Readiness::Invalid;
    };
    // Every response must resolve, not only the one we use.
    let Ok(resolved) = responses
        .iter()
        .map(|r| resolve(r, &data.secrets))
        .collect::<Result<Vec<_>, _>>()
    else {
        return Readiness::Invalid;
    };
    let Some(first) = resolved.first() else {
        return Readiness::NotReady;
    };
    if first.tls {
        // TLS is not supported.
        return Readiness::Invalid;
    }
    // No endpoints yet: the resource is not created, nothing to connect to.
    let Some(endpoints) = first.endpoints.as_deref().filter(|e| !e.is_empty()) else {
        return Readiness::NotReady;
    };
    let Ok(mut env) = url_env(PREFIX, &connect_url(first, endpoints), true) else {
        return Readiness::Invalid;
    };
    // The reference lists the credentials after the host and port.
    for suffix in ["USERNAME", "PASSWORD", "NAME"] {
        let key = format!("{PREFIX}_{suffix}");
        if let Some(v) = env.shift_remove(&key) {
            env.insert(key, v);
        }
    }
    let mut put = |name: &str, value: &Option<String>| {
        env.insert(name.to_string(), value.clone().unwrap_or_default());
    };
    put("VALKEY_DB_READ_ONLY_ENDPOINTS", &first.read_only_endpoints);
    put("VALKEY_DB_SENTINEL_ENDPOINTS", &first.sentinel_endpoints);
    put("VALKEY_MODE", &first.mode);
    put("VALKEY_VERSION", &first.version);
    Readiness::Ready(env)
}

// ---------------------------------------------------------------------------------------
// The snapshot and the event (5.1, 5.3)

/// Parse our unit bag's `data`; absent, unparseable or not an object counts as empty.
fn parse_snapshot(previous: Option<&str>) -> Map<String, Value> {
    match previous.map(serde_json::from_str::<Value>) {
        Some(Ok(Value::Object(map))) => map,
        _ => Map::new(),
    }
}

/// What the snapshot keeps of a response: its fields in read order, without `data`,
/// without secret contents and without nulls (an absent value).
fn snapshot_entry(obj: &Map<String, Value>) -> Map<String, Value> {
    obj.iter()
        .filter(|(k, v)| {
            k.as_str() != "data" && !SECRET_VALUE_FIELDS.contains(&k.as_str()) && !v.is_null()
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The new value of our unit bag's `data` on `valkey-relation-changed`: the previous
/// snapshot with each current response stored under its request id. `None` when the
/// provider has no response yet (nothing to write).
pub fn snapshot(previous: Option<&str>, remote_app_bag: &Databag) -> Option<String> {
    let mut data = parse_snapshot(previous);
    let mut stored = false;
    for response in raw_responses(remote_app_bag) {
        if let Some(id) = response_id(&response) {
            data.insert(id, Value::Object(snapshot_entry(&response)));
            stored = true;
        }
    }
    stored.then(|| pyjson::dumps(&Value::Object(data)))
}

/// What `valkey-relation-changed` calls for, from our previous snapshot and the remote
/// bag.
pub fn on_changed(previous: Option<&str>, remote_app_bag: &Databag) -> Reaction {
    Reaction::reconcile_if(changed_triggers_reconcile(previous, remote_app_bag), true)
}

/// Whether `valkey-relation-changed` reconciles (with migrations): some response's
/// `secret-user` is there now and was not in our previous snapshot of that request
/// (the resource was created).
pub fn changed_triggers_reconcile(previous: Option<&str>, remote_app_bag: &Databag) -> bool {
    let before = parse_snapshot(previous);
    let has_user = |obj: &Map<String, Value>| obj.get("secret-user").is_some_and(|v| !v.is_null());
    raw_responses(remote_app_bag).iter().any(|response| {
        let Some(id) = response_id(response) else {
            return false;
        };
        let had = match before.get(&id) {
            Some(Value::Object(old)) => has_user(old),
            _ => false,
        };
        has_user(response) && !had
    })
}

/// The handler of the `valkey` row.
#[derive(Debug)]
pub struct Valkey;

impl Integration for Valkey {
    fn read(
        &self,
        src: &mut dyn RelationReader,
        input: &ReadInput<'_>,
    ) -> Result<Readout, ToolError> {
        // Counted: `counts_relations` says so.
        let count = input.relation_count.unwrap_or(1);
        Ok(Readout::env(env(&read(
            src,
            input.rel,
            input.remote_app,
            count,
        )?)))
    }

    fn counts_relations(&self) -> bool {
        true
    }

    /// Keep a snapshot of the responses we saw.
    fn on_changed(
        &self,
        host: &mut dyn EventHost,
        event: &RelationEvent,
    ) -> Result<Reaction, EventError> {
        let Some((ours, current)) = our_unit_and_remote_app_bags(host, event)? else {
            return Ok(Reaction::Nothing);
        };
        let previous = ours.get("data").map(String::as_str);
        let reaction = on_changed(previous, &current);
        if let Some(snapshot) = snapshot(previous, &current) {
            let data: Databag = [("data".to_string(), snapshot)].into_iter().collect();
            host.tools().relation_set(&event.relation, &data, false)?;
        }
        Ok(reaction)
    }
}

impl RelationHooks for Valkey {
    /// The leader asks for the whole keyspace, with a new salt.
    fn on_created(
        &self,
        host: &mut dyn EventHost,
        event: &RelationEvent,
    ) -> Result<(), EventError> {
        leader_writes(host, event, || Ok(request(&random_salt()?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrations::testing::{FakeReader, ReadCall, bag, pairs};

    const RID: &str = "0123456789abcdef";

    /// A provider bag with one response built from `fields` (JSON object text).
    fn provider(fields: &str) -> Databag {
        bag(&[
            ("version", "v1"),
            ("requests", &format!("[{fields}]")),
            ("data", r#"{"0123456789abcdef": {"resource": "*"}}"#),
        ])
    }

    fn data(app_bag: Databag, secrets: &[(&str, SecretLookup)]) -> ValkeyData {
        ValkeyData {
            relation_count: 1,
            app_bag,
            secrets: secrets
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        }
    }

    fn user_secret(user: &str, password: &str) -> SecretLookup {
        SecretLookup::Found(bag(&[("username", user), ("password", password)]))
    }

    fn ready(d: &ValkeyData) -> Vec<(String, String)> {
        match env(d) {
            Readiness::Ready(env) => env.into_iter().collect(),
            other => panic!("expected ready, got {other:?}"),
        }
    }

    #[test]
    fn reference_example_with_credentials() {
        let d = data(
            provider(
                r#"{"resource": "*", "request-id": "0123456789abcdef", "salt": "abcdefghijklmnop",
                    "endpoints": "valkey-primary:6379", "read-only-endpoints": "valkey-replicas:6379",
                    "sentinel-endpoints": "valkey-sentinel:26379", "mode": "sentinel",
                    "version": "9.0.1", "secret-user": "secret:valkey-user"}"#,
            ),
            &[(
                "secret:valkey-user",
                user_secret("relation-1-abc123", "supersecretpass"),
            )],
        );
        assert_eq!(
            ready(&d),
            pairs(&[
                (
                    "VALKEY_DB_CONNECT_STRING",
                    "valkey://relation-1-abc123:supersecretpass@valkey-primary:6379"
                ),
                ("VALKEY_DB_SCHEME", "valkey"),
                (
                    "VALKEY_DB_NETLOC",
                    "relation-1-abc123:supersecretpass@valkey-primary:6379"
                ),
                ("VALKEY_DB_PATH", ""),
                ("VALKEY_DB_PARAMS", ""),
                ("VALKEY_DB_QUERY", ""),
                ("VALKEY_DB_FRAGMENT", ""),
                ("VALKEY_DB_HOSTNAME", "valkey-primary"),
                ("VALKEY_DB_PORT", "6379"),
                ("VALKEY_DB_USERNAME", "relation-1-abc123"),
                ("VALKEY_DB_PASSWORD", "supersecretpass"),
                ("VALKEY_DB_READ_ONLY_ENDPOINTS", "valkey-replicas:6379"),
                ("VALKEY_DB_SENTINEL_ENDPOINTS", "valkey-sentinel:26379"),
                ("VALKEY_MODE", "sentinel"),
                ("VALKEY_VERSION", "9.0.1"),
            ])
        );
    }

    #[test]
    fn reference_example_without_credentials() {
        let d = data(
            provider(r#"{"resource": "*", "endpoints": "valkey-host:6380", "version": "8.0.0"}"#),
            &[],
        );
        assert_eq!(
            ready(&d),
            pairs(&[
                ("VALKEY_DB_CONNECT_STRING", "valkey://valkey-host:6380"),
                ("VALKEY_DB_SCHEME", "valkey"),
                ("VALKEY_DB_NETLOC", "valkey-host:6380"),
                ("VALKEY_DB_PATH", ""),
                ("VALKEY_DB_PARAMS", ""),
                ("VALKEY_DB_QUERY", ""),
                ("VALKEY_DB_FRAGMENT", ""),
                ("VALKEY_DB_HOSTNAME", "valkey-host"),
                ("VALKEY_DB_PORT", "6380"),
                ("VALKEY_DB_READ_ONLY_ENDPOINTS", ""),
                ("VALKEY_DB_SENTINEL_ENDPOINTS", ""),
                ("VALKEY_MODE", ""),
                ("VALKEY_VERSION", "8.0.0"),
            ])
        );
    }

    #[test]
    fn endpoints_with_a_scheme_keep_it() {
        let d = data(
            provider(r#"{"endpoints": "rediss://h:6379/0", "secret-user": "secret:u"}"#),
            &[("secret:u", user_secret("u", "p"))],
        );
        let env: IndexMap<_, _> = ready(&d).into_iter().collect();
        assert_eq!(env["VALKEY_DB_CONNECT_STRING"], "rediss://u:p@h:6379/0");
        assert_eq!(env["VALKEY_DB_NAME"], "0");
        // A user secret without a password still gives the `user:` form.
        let d = data(
            provider(r#"{"endpoints": "h:1", "secret-user": "secret:u"}"#),
            &[("secret:u", SecretLookup::Found(bag(&[("username", "u")])))],
        );
        let env: IndexMap<_, _> = ready(&d).into_iter().collect();
        assert_eq!(env["VALKEY_DB_CONNECT_STRING"], "valkey://u:@h:1");
        assert_eq!(env["VALKEY_DB_PASSWORD"], "");
    }

    #[test]
    fn the_first_response_is_used_and_a_found_secret_wins_over_plain_fields() {
        let d = data(
            bag(&[(
                "requests",
                r#"[{"endpoints": "a:1", "username": "plain", "password": "x", "secret-user": "secret:u"},
                    {"endpoints": "b:2"}]"#,
            )]),
            &[("secret:u", user_secret("from-secret", "pw"))],
        );
        let env: IndexMap<_, _> = ready(&d).into_iter().collect();
        assert_eq!(
            env["VALKEY_DB_CONNECT_STRING"],
            "valkey://from-secret:pw@a:1"
        );
        // Without a secret pointer the plain fields are the credentials.
        let d = data(
            bag(&[(
                "requests",
                r#"[{"endpoints": "a:1", "username": "plain", "password": "x"}]"#,
            )]),
            &[],
        );
        let env: IndexMap<_, _> = ready(&d).into_iter().collect();
        assert_eq!(env["VALKEY_DB_CONNECT_STRING"], "valkey://plain:x@a:1");
    }

    #[test]
    fn not_ready() {
        assert_eq!(env(&ValkeyData::default()), Readiness::NotReady);
        assert_eq!(env(&data(Databag::new(), &[])), Readiness::NotReady);
        assert_eq!(
            env(&data(bag(&[("version", "v1")]), &[])),
            Readiness::NotReady
        );
        assert_eq!(
            env(&data(bag(&[("version", "v1"), ("requests", "[]")]), &[])),
            Readiness::NotReady
        );
        // Our request is acknowledged but the resource is not created yet.
        assert_eq!(
            env(&data(
                provider(r#"{"resource": "*", "request-id": "0123456789abcdef", "salt": "s"}"#),
                &[]
            )),
            Readiness::NotReady
        );
    }

    #[test]
    fn malformed_data_is_invalid() {
        let invalid = |d: ValkeyData| assert_eq!(env(&d), Readiness::Invalid, "{d:?}");
        // More than one relation.
        let mut two = data(provider(r#"{"endpoints": "h:1"}"#), &[]);
        two.relation_count = 2;
        invalid(two);
        // Another contract version.
        invalid(data(
            bag(&[("version", "v0"), ("requests", r#"[{"endpoints": "h:1"}]"#)]),
            &[],
        ));
        // `requests` that is not a JSON list of objects.
        invalid(data(bag(&[("requests", "not json")]), &[]));
        invalid(data(bag(&[("requests", r#"{"endpoints": "h:1"}"#)]), &[]));
        invalid(data(bag(&[("requests", r#"["h:1"]"#)]), &[]));
        // Wrong types in a response (any response, not only the first).
        invalid(data(provider(r#"{"endpoints": 6379}"#), &[]));
        invalid(data(
            provider(r#"{"endpoints": "h:1", "resource": null}"#),
            &[],
        ));
        invalid(data(provider(r#"{"endpoints": "h:1", "salt": 5}"#), &[]));
        invalid(data(
            provider(r#"{"endpoints": "h:1", "mode": ["a"]}"#),
            &[],
        ));
        invalid(data(
            provider(r#"{"endpoints": "h:1", "secret-user": "nope"}"#),
            &[],
        ));
        invalid(data(
            provider(r#"{"endpoints": "h:1", "tls": "maybe"}"#),
            &[],
        ));
        invalid(data(
            bag(&[("requests", r#"[{"endpoints": "h:1"}, {"endpoints": 1}]"#)]),
            &[],
        ));
        // Secrets that cannot be read (or were not read).
        invalid(data(
            provider(r#"{"endpoints": "h:1", "secret-user": "secret:u"}"#),
            &[("secret:u", SecretLookup::Unreadable)],
        ));
        invalid(data(
            provider(r#"{"endpoints": "h:1", "secret-user": "secret:u"}"#),
            &[],
        ));
        invalid(data(
            bag(&[(
                "requests",
                r#"[{"endpoints": "h:1"}, {"endpoints": "h:2", "secret-user": "secret:u"}]"#,
            )]),
            &[("secret:u", SecretLookup::Unreadable)],
        ));
        // TLS on the first response.
        invalid(data(
            provider(r#"{"endpoints": "h:1", "secret-tls": "secret:t"}"#),
            &[(
                "secret:t",
                SecretLookup::Found(bag(&[("tls", "true"), ("tls-ca", "CA")])),
            )],
        ));
        invalid(data(provider(r#"{"endpoints": "h:1", "tls": true}"#), &[]));
        invalid(data(provider(r#"{"endpoints": "h:1", "tls": "yes"}"#), &[]));
        // A TLS flag that is not JSON.
        invalid(data(
            provider(r#"{"endpoints": "h:1", "secret-tls": "secret:t"}"#),
            &[("secret:t", SecretLookup::Found(bag(&[("tls", "True")])))],
        ));
        // An endpoint whose port is not a port.
        invalid(data(provider(r#"{"endpoints": "h:port"}"#), &[]));
    }

    #[test]
    fn tls_off_is_fine() {
        for (tls, secrets) in [
            (
                r#""secret-tls": "secret:t""#,
                vec![("secret:t", SecretLookup::Found(bag(&[("tls", "false")])))],
            ),
            (
                r#""secret-tls": "secret:t""#,
                vec![("secret:t", SecretLookup::Found(bag(&[("tls-ca", "CA")])))],
            ),
            (r#""tls": false"#, vec![]),
            (r#""tls": "no""#, vec![]),
            (r#""tls": null"#, vec![]),
        ] {
            let d = data(
                provider(&format!(r#"{{"endpoints": "h:1", {tls}}}"#)),
                &secrets,
            );
            assert!(env(&d).is_ready(), "{tls}");
        }
    }

    #[test]
    fn request_bag_byte_for_byte() {
        let salt = "abcdefghijklmnop";
        let got = request(salt);
        assert_eq!(
            got,
            bag(&[
                ("version", "v1"),
                (
                    "requests",
                    r#"[{"resource": "*", "request-id": "8177efbc4477da55", "salt": "abcdefghijklmnop", "extra-user-roles": null, "extra-group-roles": null, "external-node-connectivity": false, "entity-type": null, "entity-permissions": null, "secret-mtls": null}]"#
                ),
            ])
        );
        assert_eq!(request_id("*", "Xy3kP9qLm2Vn8RtZ"), "e5b8087c425ffffa");
    }

    #[test]
    fn salts_are_16_alphanumerics() {
        let a = random_salt().unwrap();
        let b = random_salt().unwrap();
        assert_eq!(a.len(), 16);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn snapshot_keeps_read_order_and_leaves_out_data_secrets_and_nulls() {
        let remote = bag(&[
            ("version", "v1"),
            (
                "requests",
                r#"[{"salt": "abcdefghijklmnop", "resource": "*", "request-id": "0123456789abcdef",
                     "endpoints": "valkey-primary:6379", "username": "leak", "password": "leak",
                     "tls": "false", "mode": null, "data": {"x": 1}, "secret-user": "secret:u",
                     "version": "9.0.1", "extra": [1, 2.5, true]}]"#,
            ),
        ]);
        assert_eq!(
            snapshot(None, &remote).as_deref(),
            Some(
                r#"{"0123456789abcdef": {"salt": "abcdefghijklmnop", "resource": "*", "request-id": "0123456789abcdef", "endpoints": "valkey-primary:6379", "secret-user": "secret:u", "version": "9.0.1", "extra": [1, 2.5, true]}}"#
            )
        );
        // Other requests of the previous snapshot stay; ours is replaced in place.
        let previous =
            r#"{"old": {"resource": "x"}, "0123456789abcdef": {"resource": "*"}, "z": 1}"#;
        let remote =
            provider(r#"{"resource": "*", "request-id": "0123456789abcdef", "endpoints": "h:1"}"#);
        assert_eq!(
            snapshot(Some(previous), &remote).as_deref(),
            Some(
                r#"{"old": {"resource": "x"}, "0123456789abcdef": {"resource": "*", "request-id": "0123456789abcdef", "endpoints": "h:1"}, "z": 1}"#
            )
        );
        // A response without a request id is stored under the id its salt gives.
        let remote = provider(r#"{"resource": "*", "salt": "abcdefghijklmnop"}"#);
        assert_eq!(
            snapshot(Some("not json"), &remote).as_deref(),
            Some(r#"{"8177efbc4477da55": {"resource": "*", "salt": "abcdefghijklmnop"}}"#)
        );
        // Nothing to store.
        assert_eq!(snapshot(None, &Databag::new()), None);
        assert_eq!(snapshot(None, &bag(&[("requests", "[]")])), None);
        assert_eq!(snapshot(None, &bag(&[("requests", "garbage")])), None);
        assert_eq!(snapshot(None, &provider(r#"{"resource": "*"}"#)), None);
    }

    #[test]
    fn changed_reconciles_when_secret_user_first_appears() {
        let with_user = provider(&format!(
            r#"{{"request-id": "{RID}", "endpoints": "h:1", "secret-user": "secret:u"}}"#
        ));
        let without_user = provider(&format!(r#"{{"request-id": "{RID}", "endpoints": "h:1"}}"#));
        assert!(changed_triggers_reconcile(None, &with_user));
        assert!(changed_triggers_reconcile(Some("garbage"), &with_user));
        let before = snapshot(None, &without_user);
        assert!(changed_triggers_reconcile(before.as_deref(), &with_user));
        // Already seen: no reconcile, also when the URI changes.
        let seen = snapshot(None, &with_user);
        assert!(!changed_triggers_reconcile(seen.as_deref(), &with_user));
        let rotated = provider(&format!(
            r#"{{"request-id": "{RID}", "endpoints": "h:1", "secret-user": "secret:v"}}"#
        ));
        assert!(!changed_triggers_reconcile(seen.as_deref(), &rotated));
        // Seen under another request id does not count.
        let other = r#"{"ffffffffffffffff": {"secret-user": "secret:u"}}"#;
        assert!(changed_triggers_reconcile(Some(other), &with_user));
        // Nothing new.
        assert!(!changed_triggers_reconcile(None, &without_user));
        assert!(!changed_triggers_reconcile(None, &Databag::new()));
        let null_user = provider(&format!(
            r#"{{"request-id": "{RID}", "secret-user": null}}"#
        ));
        assert!(!changed_triggers_reconcile(None, &null_user));
    }

    /// Relation `valkey:5` with the provider's app bag.
    fn reader(remote_app_data: Databag) -> FakeReader {
        FakeReader::new().app_bag(&RelationId::new(ENDPOINT, 5), "valkey", remote_app_data)
    }

    #[test]
    fn read_gets_the_bag_and_each_secret_with_its_label() {
        let remote = provider(&format!(
            r#"{{"request-id": "{RID}", "endpoints": "h:1", "secret-user": "secret:u", "secret-tls": "secret:t"}}"#
        ));
        // secret:t is not granted.
        let mut src =
            reader(remote.clone()).secret("secret:u", bag(&[("username", "u"), ("password", "p")]));
        let rel = RelationId::new(ENDPOINT, 5);
        let d = read(&mut src, &rel, "valkey", 1).unwrap();
        assert_eq!(d.relation_count, 1);
        assert_eq!(d.app_bag, remote);
        assert_eq!(
            d.secrets,
            [
                ("secret:u".to_string(), user_secret("u", "p")),
                ("secret:t".to_string(), SecretLookup::Unreadable),
            ]
            .into_iter()
            .collect::<IndexMap<_, _>>()
        );
        assert_eq!(
            src.calls,
            vec![
                ReadCall::app_bag("valkey:5", "valkey"),
                ReadCall::secret(
                    "secret:u",
                    Some("valkey.5.0123456789abcdef.user.secret"),
                    SecretRead::Refresh
                ),
                ReadCall::secret(
                    "secret:t",
                    Some("valkey.5.0123456789abcdef.tls.secret"),
                    SecretRead::Refresh
                ),
            ]
        );
        // The unreadable TLS secret makes the data invalid.
        assert_eq!(env(&d), Readiness::Invalid);
    }

    #[test]
    fn read_of_malformed_or_gone_relations_reads_no_secrets() {
        let mut src = reader(bag(&[("requests", "nonsense")]));
        let d = read(&mut src, &RelationId::new(ENDPOINT, 5), "valkey", 1).unwrap();
        assert!(d.secrets.is_empty());
        assert_eq!(env(&d), Readiness::Invalid);
        let d = read(&mut src, &RelationId::new(ENDPOINT, 6), "valkey", 1).unwrap();
        assert_eq!(d.app_bag, Databag::new());
        assert_eq!(env(&d), Readiness::NotReady);
        assert_eq!(src.calls.len(), 2);
    }

    #[test]
    fn labels() {
        let rel = RelationId::new(ENDPOINT, 5);
        assert_eq!(
            secret_label(&rel, Some(RID), "user"),
            "valkey.5.0123456789abcdef.user.secret"
        );
        assert_eq!(secret_label(&rel, None, "tls"), "valkey.5.tls.secret");
    }
}
