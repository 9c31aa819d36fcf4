//! The OAuth/OIDC requirer (`INTERFACES.md` 12): the client request we publish for the
//! provider (hydra's `oauth` interface), whether the provider has created our client,
//! the provider data and its client secret, the `DJANGO_<ENDPOINT>_*` variables, and
//! the OAuth-specific Blocked conditions (client not created, ingress required, invalid
//! data, scopes without `openid`, more than one `oauth` endpoint).
//!
//! The endpoint has any name with interface `oauth` (the reference example calls it
//! `oidc`), so every function that needs it takes the endpoint name; the status texts
//! say `oauth` whatever the endpoint is called.

use indexmap::IndexMap;
use serde_json::{Map, Value};

use crate::integrations::kind::{
    EventError, EventHost, Integration, Reaction, ReadInput, Readout, RelationHooks, remote_app_bag,
};
use crate::integrations::{Readiness, SecretLookup};
use crate::juju::context::{RelationEvent, RelationId, RelationKind};
use crate::juju::relations::RelationReader;
use crate::juju::tools::{Databag, SecretRead, ToolError};
use crate::pyjson;

pub const INTERFACE: &str = "oauth";

/// The name the status texts use for this integration, whatever the endpoint is called
/// (`Invalid oauth relation data.`, `missing integrations: oauth`).
pub const NAME: &str = "oauth";

pub const INVALID_MESSAGE: &str = "Invalid oauth relation data.";
pub const INGRESS_REQUIRED_MESSAGE: &str =
    "Ingress relation is required for OIDC to work correctly!";
pub const MULTIPLE_ENDPOINTS_MESSAGE: &str =
    "Multiple OAuth relations are not supported at the moment";
pub const OPENID_REQUIRED_MESSAGE: &str =
    "The 'openid' scope is required for OAuth integration, please add it to the scopes.";

/// The defaults of the two options the extension adds per `oauth` endpoint.
pub const DEFAULT_REDIRECT_PATH: &str = "/callback";
pub const DEFAULT_SCOPES: &str = "openid profile email";

/// The provider fields that must be present, all strings once JSON-decoded.
const REQUIRED_STRINGS: [&str; 7] = [
    "issuer_url",
    "authorization_endpoint",
    "token_endpoint",
    "introspection_endpoint",
    "userinfo_endpoint",
    "jwks_endpoint",
    "scope",
];
/// Provider fields that are strings when present.
const OPTIONAL_STRINGS: [&str; 4] = [
    "client_id",
    "client_secret_id",
    "groups",
    "jwt_access_token",
];
/// The key of the client secret's content.
const CLIENT_SECRET_KEY: &str = "secret";

/// How many `requires` endpoints have interface `oauth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointChoice<'a> {
    /// No OAuth endpoint: nothing OAuth applies.
    None,
    /// Exactly one: the OAuth integration is active on it.
    One(&'a str),
    /// Two or more: Blocked [`MULTIPLE_ENDPOINTS_MESSAGE`].
    Several,
}

/// Pick the OAuth endpoint from the `requires` endpoints as (name, interface) pairs.
pub fn choose_endpoint<'a, I>(requires: I) -> EndpointChoice<'a>
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let mut found = requires
        .into_iter()
        .filter(|(_, interface)| *interface == INTERFACE)
        .map(|(name, _)| name);
    match (found.next(), found.next()) {
        (None, _) => EndpointChoice::None,
        (Some(name), None) => EndpointChoice::One(name),
        (Some(_), Some(_)) => EndpointChoice::Several,
    }
}

/// `<endpoint>-redirect-path`.
pub fn redirect_path_option(endpoint: &str) -> String {
    format!("{endpoint}-redirect-path")
}

/// `<endpoint>-scopes`.
pub fn scopes_option(endpoint: &str) -> String {
    format!("{endpoint}-scopes")
}

/// The two configured values the client request and the env use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthOptions {
    pub redirect_path: String,
    pub scopes: String,
}

impl OAuthOptions {
    /// Read both options from `config-get` output. The extension always declares them
    /// with a default, so an absent option only happens when the charm author removed
    /// the default; it then takes the extension's default.
    pub fn from_config(endpoint: &str, config: &Map<String, Value>) -> OAuthOptions {
        let text = |name: String, default: &str| match config.get(&name) {
            None | Some(Value::Null) => default.to_string(),
            Some(Value::String(s)) => s.clone(),
            // The reference uses `str(value)`; only strings are declared, so this is
            // just a total fallback.
            Some(Value::Bool(true)) => "True".to_string(),
            Some(Value::Bool(false)) => "False".to_string(),
            Some(other) => other.to_string(),
        };
        OAuthOptions {
            redirect_path: text(redirect_path_option(endpoint), DEFAULT_REDIRECT_PATH),
            scopes: text(scopes_option(endpoint), DEFAULT_SCOPES),
        }
    }
}

/// The scope check of 12.1: `openid` must be a substring of the scopes (so `openidx`
/// passes, as in the reference).
pub fn scopes_include_openid(scopes: &str) -> bool {
    scopes.contains("openid")
}

/// `<base URL without trailing "/">/<redirect path without leading "/">`. Every
/// trailing and leading `/` goes, as Python's `rstrip`/`lstrip` do.
pub fn redirect_uri(base_url: &str, redirect_path: &str) -> String {
    format!(
        "{}/{}",
        base_url.trim_end_matches('/'),
        redirect_path.trim_start_matches('/')
    )
}

/// The client request the leader merges into our app bag (12.1). The hydra library
/// JSON-encodes only list values; strings are written raw.
pub fn client_request(base_url: &str, options: &OAuthOptions) -> Databag {
    let mut bag = Databag::new();
    bag.insert(
        "redirect_uri".into(),
        redirect_uri(base_url, &options.redirect_path),
    );
    bag.insert("scope".into(), options.scopes.clone());
    bag.insert(
        "grant_types".into(),
        pyjson::dumps_strings(&["authorization_code"]),
    );
    bag.insert("audience".into(), pyjson::dumps_strings::<&str>(&[]));
    bag.insert(
        "token_endpoint_auth_method".into(),
        "client_secret_basic".into(),
    );
    bag
}

/// The provider has created our client: both `client_id` and `client_secret_id` are in
/// its app bag (presence only, as the library checks it).
pub fn client_created(remote_app_bag: &Databag) -> bool {
    remote_app_bag.contains_key("client_id") && remote_app_bag.contains_key("client_secret_id")
}

/// Whether a relation hook of the OAuth endpoint reconciles: `-changed` once the client
/// is created (provider info alone does nothing), `-broken` always.
pub fn reconciles_on(kind: RelationKind, remote_app_bag: &Databag) -> bool {
    match kind {
        RelationKind::Changed => client_created(remote_app_bag),
        RelationKind::Broken => true,
        _ => false,
    }
}

/// What `-relation-changed` of the OAuth endpoint calls for (no migrations).
pub fn on_changed(remote_app_bag: &Databag) -> Reaction {
    Reaction::reconcile_if(reconciles_on(RelationKind::Changed, remote_app_bag), false)
}

/// Whether a relation hook of the OAuth endpoint makes the leader write the client
/// request outside a reconcile: only `-created`.
pub fn writes_request_on(kind: RelationKind) -> bool {
    kind == RelationKind::Created
}

/// Everything read from Juju for the OAuth relation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OAuthData {
    /// The provider application; `None` when there is no relation.
    pub remote_app: Option<String>,
    /// The provider's app bag.
    pub app_bag: Databag,
    /// The content of the `client_secret_id` secret; read only once the client exists.
    pub client_secret: SecretLookup,
}

/// Read the OAuth relation: `relation-get --app - <remote app>`, then, once the client
/// is created, `secret-get <client_secret_id>` (pinned, no label: the library reads
/// it with `get_secret(id=...)` and no refresh).
pub fn read(
    src: &mut (impl RelationReader + ?Sized),
    rel: &RelationId,
    remote_app: &str,
) -> Result<OAuthData, ToolError> {
    let app_bag = src.app_bag(rel, remote_app)?.unwrap_or_default();
    let secret_id = if client_created(&app_bag) {
        app_bag
            .get("client_secret_id")
            .and_then(|raw| match decode(raw) {
                Value::String(id) if !id.is_empty() => Some(id),
                _ => None,
            })
    } else {
        None
    };
    let client_secret = match secret_id {
        None => SecretLookup::Absent,
        Some(id) => match src.secret(&id, None, SecretRead::Pinned)? {
            Some(content) => SecretLookup::Found(content),
            None => SecretLookup::Unreadable,
        },
    };
    Ok(OAuthData {
        remote_app: Some(remote_app.to_string()),
        app_bag,
        client_secret,
    })
}

/// The provider data we use, decoded and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderInfo {
    pub client_id: String,
    pub client_secret: String,
    pub issuer_url: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: String,
    pub jwks_endpoint: String,
}

/// The provider data once the client is created; `Invalid` when it does not match
/// 12.2 or the client secret cannot be used.
pub fn provider_info(data: &OAuthData) -> Readiness<ProviderInfo> {
    if data.remote_app.is_none() || !client_created(&data.app_bag) {
        return Readiness::NotReady;
    }
    let decoded: IndexMap<&str, Value> = data
        .app_bag
        .iter()
        .map(|(k, v)| (k.as_str(), decode(v)))
        .collect();
    let string = |key: &str| match decoded.get(key) {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    let types_ok = REQUIRED_STRINGS.iter().all(|k| string(k).is_some())
        && OPTIONAL_STRINGS
            .iter()
            .all(|k| !decoded.contains_key(k) || string(k).is_some())
        && match decoded.get("ca_chain") {
            None => true,
            Some(Value::Array(items)) => items.iter().all(Value::is_string),
            Some(_) => false,
        }
        // The library turns the flag into a bool with `strtobool`, which rejects
        // anything else.
        && string("jwt_access_token").is_none_or(|s| is_truth_value(&s));
    if !types_ok {
        return Readiness::Invalid;
    }
    let (Some(client_id), Some(secret_id)) = (string("client_id"), string("client_secret_id"))
    else {
        return Readiness::Invalid;
    };
    if secret_id.is_empty() {
        return Readiness::Invalid;
    }
    let client_secret = match &data.client_secret {
        SecretLookup::Found(content) => match content.get(CLIENT_SECRET_KEY) {
            Some(secret) => secret.clone(),
            None => return Readiness::Invalid,
        },
        SecretLookup::Absent | SecretLookup::Unreadable => return Readiness::Invalid,
    };
    let field = |key: &str| string(key).unwrap_or_default();
    Readiness::Ready(ProviderInfo {
        client_id,
        client_secret,
        issuer_url: field("issuer_url"),
        authorization_endpoint: field("authorization_endpoint"),
        token_endpoint: field("token_endpoint"),
        userinfo_endpoint: field("userinfo_endpoint"),
        jwks_endpoint: field("jwks_endpoint"),
    })
}

/// The `DJANGO_<ENDPOINT>_*` variables (12.3). The prefix keeps dashes
/// (`my-oidc` → `DJANGO_MY-OIDC_`); `CLIENT_KWARGS` carries the configured scopes.
pub fn env(endpoint: &str, scopes: &str, data: &OAuthData) -> Readiness<IndexMap<String, String>> {
    let info = match provider_info(data) {
        Readiness::Ready(info) => info,
        Readiness::NotReady => return Readiness::NotReady,
        Readiness::Invalid => return Readiness::Invalid,
    };
    let prefix = format!("DJANGO_{}_", endpoint.to_uppercase());
    let mut kwargs = Map::new();
    kwargs.insert("scope".into(), Value::from(scopes));
    let mut env = IndexMap::new();
    for (suffix, value) in [
        ("CLIENT_ID", info.client_id),
        ("CLIENT_SECRET", info.client_secret),
        ("API_BASE_URL", info.issuer_url),
        ("AUTHORIZE_URL", info.authorization_endpoint),
        ("ACCESS_TOKEN_URL", info.token_endpoint),
        ("USER_URL", info.userinfo_endpoint),
        (
            "CLIENT_KWARGS",
            pyjson::dumps(&Value::Object(kwargs.clone())),
        ),
        ("JWKS_URL", info.jwks_endpoint),
    ] {
        env.insert(format!("{prefix}{suffix}"), value);
    }
    Readiness::Ready(env)
}

/// Why a related OAuth endpoint blocks the charm (12.3). The charm's precedence puts
/// [`OAuthBlocked::InvalidData`] with the other invalid relation data (`DJANGO.md` 11
/// row 0e), the other two after the missing-integrations check (rows 4 and 5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OAuthBlocked {
    /// Related, but the provider has not created the client yet.
    ClientNotCreated { remote_app: String },
    /// Client created, but its data or secret is unusable.
    InvalidData,
    /// Client created and usable, but there is no ingress URL to redirect to.
    IngressRequired,
}

impl OAuthBlocked {
    /// The Blocked status message.
    pub fn message(&self) -> String {
        match self {
            OAuthBlocked::ClientNotCreated { remote_app } => {
                format!("Please check {remote_app} charm!")
            }
            OAuthBlocked::InvalidData => INVALID_MESSAGE.to_string(),
            OAuthBlocked::IngressRequired => INGRESS_REQUIRED_MESSAGE.to_string(),
        }
    }
}

/// What, if anything, the OAuth relation blocks on; `None` without a relation or when
/// it is usable and ingress is ready.
pub fn blocked(data: &OAuthData, ingress_ready: bool) -> Option<OAuthBlocked> {
    let remote_app = data.remote_app.as_ref()?;
    match provider_info(data) {
        Readiness::NotReady => Some(OAuthBlocked::ClientNotCreated {
            remote_app: remote_app.clone(),
        }),
        Readiness::Invalid => Some(OAuthBlocked::InvalidData),
        Readiness::Ready(_) if !ingress_ready => Some(OAuthBlocked::IngressRequired),
        Readiness::Ready(_) => None,
    }
}

/// A databag value as the library sees it: JSON-decoded when it parses, else the raw
/// string. Python's `json.loads` also takes `NaN`, `Infinity`, `-Infinity` and numbers
/// too large for a double, which `serde_json` refuses; they are numbers, never strings,
/// so they map to a non-string value.
fn decode(raw: &str) -> Value {
    match serde_json::from_str::<Value>(raw) {
        Ok(value) => value,
        Err(_) if is_python_only_number(raw) => Value::Null,
        Err(_) => Value::String(raw.to_string()),
    }
}

fn is_python_only_number(raw: &str) -> bool {
    let text = raw.trim_matches([' ', '\t', '\n', '\r']);
    if matches!(text, "NaN" | "Infinity" | "-Infinity") {
        return true;
    }
    // A JSON number literal: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
    let b = text.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    let int_start = i;
    let n = digits(&mut i);
    if n == 0 || (n > 1 && b.get(int_start) == Some(&b'0')) {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// The values `strtobool` accepts (case-insensitive).
fn is_truth_value(value: &str) -> bool {
    matches!(
        value.to_lowercase().as_str(),
        "y" | "yes" | "t" | "true" | "on" | "1" | "n" | "no" | "f" | "false" | "off" | "0"
    )
}

/// The handler of the `oauth` row (the one active OAuth endpoint).
#[derive(Debug)]
pub struct Oauth;

impl Integration for Oauth {
    fn read(
        &self,
        src: &mut dyn RelationReader,
        input: &ReadInput<'_>,
    ) -> Result<Readout, ToolError> {
        let data = read(src, input.rel, input.remote_app)?;
        let options = OAuthOptions::from_config(input.endpoint, input.config);
        Ok(Readout {
            env: env(input.endpoint, &options.scopes, &data),
            oauth: Some(data),
        })
    }

    fn on_changed(
        &self,
        host: &mut dyn EventHost,
        event: &RelationEvent,
    ) -> Result<Reaction, EventError> {
        Ok(match remote_app_bag(host, event)? {
            Some(bag) => on_changed(&bag),
            None => Reaction::Nothing,
        })
    }
}

impl RelationHooks for Oauth {
    /// Only the one active OAuth endpoint; leader only; and only what the request
    /// needs: the options and the base URL.
    fn on_created(
        &self,
        host: &mut dyn EventHost,
        event: &RelationEvent,
    ) -> Result<(), EventError> {
        let rel = &event.relation;
        let active = choose_endpoint(
            host.meta()
                .requires
                .iter()
                .map(|(n, e)| (n.as_str(), e.interface.as_str())),
        ) == EndpointChoice::One(&rel.endpoint);
        if !active || !host.tools().is_leader()? || host.remote_app()?.is_none() {
            return Ok(());
        }
        let config = host.tools().config_get()?;
        let options = OAuthOptions::from_config(&rel.endpoint, &config);
        let base_url = host.base_url()?;
        host.tools()
            .relation_set(rel, &client_request(&base_url, &options), true)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrations::testing::{FakeReader, ReadCall, bag};

    /// `OAUTH_RELATION_DATA_EXAMPLE` of the reference's tests, plus `client_secret_id`.
    fn example_bag() -> Databag {
        bag(&[
            (
                "authorization_endpoint",
                "https://traefik_ip/model_name-hydra/oauth2/auth",
            ),
            (
                "introspection_endpoint",
                "http://hydra.model_name.svc.cluster.local:4445/admin/oauth2/introspect",
            ),
            ("issuer_url", "https://traefik_ip/model_name-hydra"),
            (
                "jwks_endpoint",
                "https://traefik_ip/model_name-hydra/.well-known/jwks.json",
            ),
            ("scope", "openid profile email"),
            (
                "token_endpoint",
                "https://traefik_ip/model_name-hydra/oauth2/token",
            ),
            (
                "userinfo_endpoint",
                "https://traefik_ip/model_name-hydra/userinfo",
            ),
            ("client_id", "test-client-id"),
            ("client_secret_id", "secret:oauth-client"),
        ])
    }

    fn example_data() -> OAuthData {
        OAuthData {
            remote_app: Some("hydra".into()),
            app_bag: example_bag(),
            client_secret: SecretLookup::Found(bag(&[("secret", "abc")])),
        }
    }

    fn with(mut data: OAuthData, key: &str, value: &str) -> OAuthData {
        data.app_bag.insert(key.into(), value.into());
        data
    }

    #[test]
    fn worked_example_env() {
        let options = OAuthOptions {
            redirect_path: "/oauth/callback".into(),
            scopes: "openid profile email phone".into(),
        };
        let expected: IndexMap<String, String> = [
            ("DJANGO_OIDC_CLIENT_ID", "test-client-id"),
            ("DJANGO_OIDC_CLIENT_SECRET", "abc"),
            (
                "DJANGO_OIDC_API_BASE_URL",
                "https://traefik_ip/model_name-hydra",
            ),
            (
                "DJANGO_OIDC_AUTHORIZE_URL",
                "https://traefik_ip/model_name-hydra/oauth2/auth",
            ),
            (
                "DJANGO_OIDC_ACCESS_TOKEN_URL",
                "https://traefik_ip/model_name-hydra/oauth2/token",
            ),
            (
                "DJANGO_OIDC_USER_URL",
                "https://traefik_ip/model_name-hydra/userinfo",
            ),
            (
                "DJANGO_OIDC_CLIENT_KWARGS",
                r#"{"scope": "openid profile email phone"}"#,
            ),
            (
                "DJANGO_OIDC_JWKS_URL",
                "https://traefik_ip/model_name-hydra/.well-known/jwks.json",
            ),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let got = match env("oidc", &options.scopes, &example_data()) {
            Readiness::Ready(env) => env,
            other => panic!("{other:?}"),
        };
        assert_eq!(got, expected);
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>(),
            "order"
        );
        // Without ingress the charm blocks; with it, nothing blocks and the redirect
        // URI follows the ingress URL.
        assert_eq!(
            blocked(&example_data(), false),
            Some(OAuthBlocked::IngressRequired)
        );
        assert_eq!(
            OAuthBlocked::IngressRequired.message(),
            "Ingress relation is required for OIDC to work correctly!"
        );
        assert_eq!(blocked(&example_data(), true), None);
        assert_eq!(
            client_request("http://juju.test/", &options)["redirect_uri"],
            "http://juju.test/oauth/callback"
        );
    }

    #[test]
    fn prefix_keeps_dashes() {
        let Readiness::Ready(env) = env("my-oidc", "openid", &example_data()) else {
            panic!()
        };
        assert_eq!(env["DJANGO_MY-OIDC_CLIENT_ID"], "test-client-id");
        assert_eq!(env.len(), 8);
    }

    #[test]
    fn client_request_byte_for_byte() {
        let options = OAuthOptions {
            redirect_path: "/callback".into(),
            scopes: "openid profile email".into(),
        };
        assert_eq!(
            client_request("http://blog.prod:8000", &options),
            bag(&[
                ("redirect_uri", "http://blog.prod:8000/callback"),
                ("scope", "openid profile email"),
                ("grant_types", r#"["authorization_code"]"#),
                ("audience", "[]"),
                ("token_endpoint_auth_method", "client_secret_basic"),
            ])
        );
        assert_eq!(
            client_request("http://blog.prod:8000", &options)
                .keys()
                .collect::<Vec<_>>(),
            [
                "redirect_uri",
                "scope",
                "grant_types",
                "audience",
                "token_endpoint_auth_method"
            ]
        );
        assert_eq!(
            redirect_uri("http://juju.test/", "/callback"),
            "http://juju.test/callback"
        );
        assert_eq!(
            redirect_uri("http://juju.test//", "//cb"),
            "http://juju.test/cb"
        );
        assert_eq!(
            redirect_uri("http://juju.test/prod-blog", "oauth/callback"),
            "http://juju.test/prod-blog/oauth/callback"
        );
    }

    #[test]
    fn options_and_scope_check() {
        let config: Map<String, Value> = serde_json::from_str(
            r#"{"oidc-redirect-path": "/oauth/callback", "oidc-scopes": "profile email"}"#,
        )
        .unwrap();
        let o = OAuthOptions::from_config("oidc", &config);
        assert_eq!(o.redirect_path, "/oauth/callback");
        assert_eq!(o.scopes, "profile email");
        assert!(!scopes_include_openid(&o.scopes));
        assert!(scopes_include_openid("openid"));
        assert!(scopes_include_openid("email openid"));
        assert!(!scopes_include_openid(""));
        let o = OAuthOptions::from_config("oidc", &Map::new());
        assert_eq!(
            (o.redirect_path.as_str(), o.scopes.as_str()),
            ("/callback", "openid profile email")
        );
        assert_eq!(
            OPENID_REQUIRED_MESSAGE,
            "The 'openid' scope is required for OAuth integration, please add it to the scopes."
        );
    }

    #[test]
    fn endpoint_choice() {
        let none: [(&str, &str); 1] = [("postgresql", "postgresql_client")];
        assert_eq!(choose_endpoint(none), EndpointChoice::None);
        assert_eq!(
            choose_endpoint([("postgresql", "postgresql_client"), ("oidc", "oauth")]),
            EndpointChoice::One("oidc")
        );
        assert_eq!(
            choose_endpoint([("a", "oauth"), ("b", "oauth")]),
            EndpointChoice::Several
        );
        assert_eq!(
            MULTIPLE_ENDPOINTS_MESSAGE,
            "Multiple OAuth relations are not supported at the moment"
        );
    }

    #[test]
    fn not_related_and_client_not_created() {
        assert_eq!(
            env("oidc", "openid", &OAuthData::default()),
            Readiness::NotReady
        );
        assert_eq!(blocked(&OAuthData::default(), false), None);
        let mut data = example_data();
        data.app_bag.shift_remove("client_secret_id");
        data.client_secret = SecretLookup::Absent;
        assert_eq!(env("oidc", "openid", &data), Readiness::NotReady);
        let b = blocked(&data, true).unwrap();
        assert_eq!(
            b,
            OAuthBlocked::ClientNotCreated {
                remote_app: "hydra".into()
            }
        );
        assert_eq!(b.message(), "Please check hydra charm!");
        // Malformed provider info does not matter before the client exists.
        let data = with(data, "issuer_url", "42");
        assert_eq!(env("oidc", "openid", &data), Readiness::NotReady);
        // A related provider with an empty bag has not created the client either.
        let empty = OAuthData {
            remote_app: Some("hydra".into()),
            ..OAuthData::default()
        };
        assert!(matches!(
            blocked(&empty, true),
            Some(OAuthBlocked::ClientNotCreated { .. })
        ));
    }

    #[test]
    fn invalid_provider_data() {
        let invalid = |data: OAuthData, why: &str| {
            assert_eq!(env("oidc", "openid", &data), Readiness::Invalid, "{why}");
            assert_eq!(
                blocked(&data, true),
                Some(OAuthBlocked::InvalidData),
                "{why}"
            );
        };
        for key in REQUIRED_STRINGS {
            let mut data = example_data();
            data.app_bag.shift_remove(key);
            invalid(data, key);
        }
        // Values are JSON-decoded first: a number, a list or null is not a string.
        invalid(with(example_data(), "token_endpoint", "12345"), "number");
        invalid(with(example_data(), "issuer_url", r#"["x"]"#), "list");
        invalid(with(example_data(), "client_id", "null"), "null");
        invalid(with(example_data(), "client_id", "7"), "numeric client id");
        invalid(with(example_data(), "scope", "NaN"), "python NaN");
        invalid(with(example_data(), "scope", "1e400"), "overflowing number");
        invalid(with(example_data(), "groups", "true"), "groups bool");
        invalid(
            with(example_data(), "ca_chain", r#"["a", 1]"#),
            "ca_chain item",
        );
        invalid(with(example_data(), "ca_chain", "cert"), "ca_chain string");
        invalid(
            with(example_data(), "jwt_access_token", "true"),
            "JSON bool",
        );
        invalid(
            with(example_data(), "jwt_access_token", "maybe"),
            "strtobool",
        );
        invalid(
            with(example_data(), "client_secret_id", r#""""#),
            "empty id",
        );
        // The client secret.
        let mut data = example_data();
        data.client_secret = SecretLookup::Unreadable;
        invalid(data, "unreadable secret");
        let mut data = example_data();
        data.client_secret = SecretLookup::Found(bag(&[("other", "x")]));
        invalid(data, "no `secret` key");
        let mut data = example_data();
        data.client_secret = SecretLookup::Absent;
        invalid(data, "secret not read");
    }

    #[test]
    fn accepted_provider_variants() {
        let ready = |data: OAuthData| match env("oidc", "openid", &data) {
            Readiness::Ready(env) => env,
            other => panic!("{other:?}"),
        };
        // JSON strings are decoded; the env carries the decoded value.
        let env = ready(with(example_data(), "client_id", r#""quoted-id""#));
        assert_eq!(env["DJANGO_OIDC_CLIENT_ID"], "quoted-id");
        ready(with(example_data(), "jwt_access_token", "True"));
        ready(with(example_data(), "jwt_access_token", "False"));
        ready(with(example_data(), "groups", "admins"));
        ready(with(
            example_data(),
            "ca_chain",
            r#"["-----BEGIN CERTIFICATE-----"]"#,
        ));
        ready(with(example_data(), "unknown_key", "{}"));
        // A non-JSON value that merely starts like a number is a string.
        let env = ready(with(example_data(), "client_id", "12ab"));
        assert_eq!(env["DJANGO_OIDC_CLIENT_ID"], "12ab");
    }

    #[test]
    fn events() {
        let created = example_bag();
        let mut info_only = example_bag();
        info_only.shift_remove("client_id");
        info_only.shift_remove("client_secret_id");
        assert!(reconciles_on(RelationKind::Changed, &created));
        assert!(!reconciles_on(RelationKind::Changed, &info_only));
        assert!(!reconciles_on(RelationKind::Changed, &Databag::new()));
        assert!(reconciles_on(RelationKind::Broken, &Databag::new()));
        assert!(!reconciles_on(RelationKind::Joined, &created));
        assert!(!reconciles_on(RelationKind::Departed, &created));
        assert!(writes_request_on(RelationKind::Created));
        assert!(!writes_request_on(RelationKind::Changed));
    }

    /// Relation `oidc:5` with hydra's `app_bag`, and the client secret when given.
    fn reader(app_bag: Databag, secret: Option<Databag>) -> FakeReader {
        let reader = FakeReader::new().app_bag(&RelationId::new("oidc", 5), "hydra", app_bag);
        match secret {
            Some(content) => reader.secret("secret:oauth-client", content),
            None => reader,
        }
    }

    #[test]
    fn read_gets_the_bag_then_the_pinned_client_secret() {
        let mut src = reader(example_bag(), Some(bag(&[("secret", "abc")])));
        let rel = RelationId::new("oidc", 5);
        let data = read(&mut src, &rel, "hydra").unwrap();
        assert_eq!(data, example_data());
        assert_eq!(
            src.calls,
            [
                ReadCall::app_bag("oidc:5", "hydra"),
                ReadCall::secret("secret:oauth-client", None, SecretRead::Pinned),
            ]
        );
    }

    #[test]
    fn read_without_client_reads_no_secret() {
        let mut app_bag = example_bag();
        app_bag.shift_remove("client_secret_id");
        let mut src = reader(app_bag.clone(), None);
        let data = read(&mut src, &RelationId::new("oidc", 5), "hydra").unwrap();
        assert_eq!(data.app_bag, app_bag);
        assert_eq!(data.client_secret, SecretLookup::Absent);
        assert_eq!(src.calls.len(), 1);
    }

    #[test]
    fn read_missing_secret_is_unreadable_and_gone_relation_is_empty() {
        let mut src = reader(example_bag(), None);
        let data = read(&mut src, &RelationId::new("oidc", 5), "hydra").unwrap();
        assert_eq!(data.client_secret, SecretLookup::Unreadable);
        assert_eq!(env("oidc", "openid", &data), Readiness::Invalid);

        let mut src = reader(example_bag(), None);
        let data = read(&mut src, &RelationId::new("oidc", 9), "hydra").unwrap();
        assert!(data.app_bag.is_empty());
        assert_eq!(data.client_secret, SecretLookup::Absent);
    }
}
