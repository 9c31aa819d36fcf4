//! The `http-proxy` requirer (`INTERFACES.md` 14): the proxy request the leader
//! publishes (one request, under a requirer id kept across hooks), finding the
//! provider's response to it (by that id on the leader; the only response on a
//! non-leader, which cannot read its own app bag), the proxy URLs with the credentials
//! of the `user` secret, and how they replace the Juju model proxies in the workload
//! environment.
//!
//! While the relation exists, anything short of a usable response blocks the charm with
//! one message, so [`proxies`] and [`fn@env`] answer `Invalid` for every such case.

use indexmap::IndexMap;
use serde_json::{Map, Value};

use crate::integrations::url::{decompose, normalise_url};
use crate::integrations::{Readiness, SecretLookup};
use crate::juju::context::{Event, RelationId, RelationKind};
use crate::juju::relations::RelationReader;
use crate::juju::tools::{Databag, SecretRead, ToolError};
use crate::pyjson;
use crate::random::{self, RandomError};

pub const ENDPOINT: &str = "http-proxy";
pub const INTERFACE: &str = "http_proxy";

/// The Blocked message whenever the relation exists but gives no usable proxies.
pub const INVALID_MESSAGE: &str =
    "http-proxy relation data is either unavailable, invalid or not usable.";

/// The statuses a provider may give a response; anything else is malformed.
const STATUSES: [&str; 7] = [
    "pending",
    "accepted",
    "rejected",
    "invalid",
    "unsupported",
    "error",
    "ready",
];
const READY: &str = "ready";
/// Authentication methods that need the `user` secret.
const USERPASS_METHODS: [&str; 2] = ["userpass", "srcip+userpass"];

/// Everything read from Juju for the `http-proxy` relation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpProxyData {
    /// The relation exists.
    pub related: bool,
    /// This unit is the leader: it finds our response by our requirer id.
    pub leader: bool,
    /// The provider's app bag (`responses`).
    pub remote_app_bag: Databag,
    /// Our app bag's `requests` value (leader only; a non-leader cannot read it).
    pub own_requests: Option<String>,
    /// The content of our response's `user` secret, when it names one.
    pub user_secret: SecretLookup,
}

/// The proxies the provider gives us, credentials included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyUrls {
    pub http_proxy: String,
    pub https_proxy: String,
}

/// Read the relation: on the leader, our app bag (`relation-get --app - <our app>`) for
/// our requirer id; the provider's app bag (`relation-get --app - <remote app>`); then,
/// when our response names a `user` secret, `secret-get <id> --refresh`.
pub fn read(
    src: &mut (impl RelationReader + ?Sized),
    rel: &RelationId,
    remote_app: &str,
    our_app: &str,
    leader: bool,
) -> Result<HttpProxyData, ToolError> {
    let own_requests = if leader {
        src.app_bag(rel, our_app)?
            .and_then(|mut bag| bag.shift_remove("requests"))
    } else {
        None
    };
    let remote_app_bag = src.app_bag(rel, remote_app)?.unwrap_or_default();
    let mut data = HttpProxyData {
        related: true,
        leader,
        remote_app_bag,
        own_requests,
        user_secret: SecretLookup::Absent,
    };
    let user_id = match our_response(&data) {
        Ok(Some(response)) => match response.get("user") {
            Some(Value::String(id)) if !id.is_empty() => Some(id.clone()),
            _ => None,
        },
        _ => None,
    };
    if let Some(id) = user_id {
        data.user_secret = match src.secret(&id, None, SecretRead::Refresh)? {
            Some(content) => SecretLookup::Found(content),
            None => SecretLookup::Unreadable,
        };
    }
    Ok(data)
}

/// The requirer id of an existing `requests` value: the `requirer` of its first entry.
pub fn kept_requirer_id(own_requests: Option<&str>) -> Option<String> {
    let requests: Value = serde_json::from_str(own_requests?).ok()?;
    match requests.get(0)?.get("requirer")? {
        Value::String(id) if !id.is_empty() => Some(id.clone()),
        _ => None,
    }
}

/// The id to request under: the kept one, else a new random one.
pub fn requirer_id(own_requests: Option<&str>) -> Result<String, RandomError> {
    match kept_requirer_id(own_requests) {
        Some(id) => Ok(id),
        None => random::uuid_v4(),
    }
}

/// Our app bag write: `requests` = our single request, keys sorted as the library
/// writes them (`json.dumps(..., sort_keys=True)`).
pub fn request_bag(requirer_id: &str) -> Databag {
    let mut request = Map::new();
    request.insert("auth".into(), Value::Array(vec![]));
    request.insert("domains".into(), Value::Array(vec![]));
    request.insert("requirer".into(), Value::from(requirer_id));
    let mut bag = Databag::new();
    bag.insert(
        "requests".into(),
        pyjson::dumps(&Value::Array(vec![Value::Object(request)])),
    );
    bag
}

/// Whether this hook makes the leader write the proxy request: `http-proxy`
/// `-relation-joined` and `upgrade-charm`, when the relation exists.
pub fn writes_request(event: &Event, leader: bool, related: bool) -> bool {
    let on_event = match event {
        Event::UpgradeCharm => true,
        Event::Relation(rel) => {
            rel.kind == RelationKind::Joined && rel.relation.endpoint == ENDPOINT
        }
        _ => false,
    };
    on_event && leader && related
}

/// Whether an `http-proxy` relation hook reconciles: `-changed` and `-broken`.
pub fn reconciles_on(kind: RelationKind) -> bool {
    matches!(kind, RelationKind::Changed | RelationKind::Broken)
}

/// Our response, if the provider has given one; `Err` when `responses` is malformed:
/// not a JSON list of objects, an entry without a (scalar) `requirer`, or two entries
/// with the same `requirer`. No `responses` key is an empty list.
fn our_response(data: &HttpProxyData) -> Result<Option<Map<String, Value>>, Malformed> {
    let raw = data
        .remote_app_bag
        .get("responses")
        .map_or("[]", String::as_str);
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(raw) else {
        return Err(Malformed);
    };
    let mut entries: Vec<Map<String, Value>> = Vec::with_capacity(items.len());
    for item in items {
        let Value::Object(entry) = item else {
            return Err(Malformed);
        };
        match entry.get("requirer") {
            None | Some(Value::Array(_) | Value::Object(_)) => return Err(Malformed),
            Some(id) if entries.iter().any(|e| e.get("requirer") == Some(id)) => {
                return Err(Malformed);
            }
            Some(_) => entries.push(entry),
        }
    }
    if data.leader {
        let Some(id) = kept_requirer_id(data.own_requests.as_deref()) else {
            return Ok(None);
        };
        let ours = Value::String(id);
        Ok(entries
            .into_iter()
            .find(|e| e.get("requirer") == Some(&ours)))
    } else if entries.len() == 1 {
        Ok(entries.pop())
    } else {
        Ok(None)
    }
}

/// `responses` cannot be parsed.
#[derive(Debug)]
struct Malformed;

/// An optional string field: absent or `null` is `None`; `Err` for any other type.
fn optional_string(response: &Map<String, Value>, key: &str) -> Result<Option<String>, Malformed> {
    match response.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Malformed),
    }
}

/// The usable proxies of a response, or `None` (not ready or malformed).
fn usable(response: &Map<String, Value>, user_secret: &SecretLookup) -> Option<ProxyUrls> {
    let status = match response.get("status") {
        Some(Value::String(s)) if STATUSES.contains(&s.as_str()) => s.as_str(),
        _ => return None,
    };
    let auth = optional_string(response, "auth").ok()?;
    let normalised = |key: &str| -> Result<Option<String>, Malformed> {
        match optional_string(response, key)? {
            None => Ok(None),
            Some(url) => normalise_url(&url, false).map(Some).map_err(|_| Malformed),
        }
    };
    let http = normalised("http_proxy").ok()?;
    let https = normalised("https_proxy").ok()?;
    let user = match response.get("user") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) if !id.is_empty() => match user_secret {
            SecretLookup::Found(content) => {
                Some((content.get("username")?, content.get("password")?))
            }
            SecretLookup::Absent | SecretLookup::Unreadable => return None,
        },
        Some(_) => return None,
    };
    if http.is_some() != https.is_some() {
        return None;
    }
    let auth = auth.filter(|a| !a.is_empty());
    if auth
        .as_deref()
        .is_some_and(|a| USERPASS_METHODS.contains(&a))
        && user.is_none()
    {
        return None;
    }
    if status != READY || auth.is_none() {
        return None;
    }
    let (http, https) = (http?, https?);
    let with_user = |url: String| -> Option<String> {
        match user {
            None => Some(url),
            Some((username, password)) => {
                let parts = decompose(&url).ok()?;
                Some(format!(
                    "{}://{username}:{password}@{}",
                    parts.scheme, parts.netloc
                ))
            }
        }
    };
    Some(ProxyUrls {
        http_proxy: with_user(http)?,
        https_proxy: with_user(https)?,
    })
}

/// The proxies: `NotReady` without a relation; with one, `Ready` only for a usable
/// response and `Invalid` otherwise (no response yet included: 14 blocks on it).
pub fn proxies(data: &HttpProxyData) -> Readiness<ProxyUrls> {
    if !data.related {
        return Readiness::NotReady;
    }
    match our_response(data) {
        Ok(Some(response)) => match usable(&response, &data.user_secret) {
            Some(urls) => Readiness::Ready(urls),
            None => Readiness::Invalid,
        },
        Ok(None) | Err(Malformed) => Readiness::Invalid,
    }
}

/// `http_proxy`, `HTTP_PROXY`, `https_proxy`, `HTTPS_PROXY` from a usable response.
pub fn env(data: &HttpProxyData) -> Readiness<IndexMap<String, String>> {
    match proxies(data) {
        Readiness::Ready(urls) => Readiness::Ready(proxy_vars(&urls)),
        Readiness::NotReady => Readiness::NotReady,
        Readiness::Invalid => Readiness::Invalid,
    }
}

fn proxy_vars(urls: &ProxyUrls) -> IndexMap<String, String> {
    [
        ("http_proxy", &urls.http_proxy),
        ("HTTP_PROXY", &urls.http_proxy),
        ("https_proxy", &urls.https_proxy),
        ("HTTPS_PROXY", &urls.https_proxy),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.clone()))
    .collect()
}

/// The HTTP and HTTPS proxies of the workload (`DJANGO.md` 3.6): the relation's when it
/// is ready, else the model's (`JUJU_CHARM_HTTP_PROXY`, `JUJU_CHARM_HTTPS_PROXY`).
/// `no_proxy` always stays the model's.
pub fn effective_proxies(
    relation: &Readiness<ProxyUrls>,
    model_http: Option<String>,
    model_https: Option<String>,
) -> (Option<String>, Option<String>) {
    match relation {
        Readiness::Ready(urls) => (
            Some(urls.http_proxy.clone()),
            Some(urls.https_proxy.clone()),
        ),
        Readiness::NotReady | Readiness::Invalid => (model_http, model_https),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrations::testing::{FakeReader, ReadCall, bag};
    use crate::juju::context::RelationEvent;

    const OUR_ID: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";

    fn own_requests() -> String {
        request_bag(OUR_ID)["requests"].clone()
    }

    /// Leader data with `responses` and, optionally, the user secret's content.
    fn leader_data(responses: &str, user: Option<&[(&str, &str)]>) -> HttpProxyData {
        HttpProxyData {
            related: true,
            leader: true,
            remote_app_bag: bag(&[("responses", responses)]),
            own_requests: Some(own_requests()),
            user_secret: user.map_or(SecretLookup::Absent, |u| SecretLookup::Found(bag(u))),
        }
    }

    fn ready_response(extra: &str) -> String {
        format!(
            r#"[{{"requirer": "{OUR_ID}", "status": "ready", "auth": "none", "http_proxy": "http://squid.internal:3128", "https_proxy": "http://squid.internal:3128"{extra}}}]"#
        )
    }

    fn vars(pairs: &[(&str, &str)]) -> IndexMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn request_byte_for_byte() {
        assert_eq!(
            request_bag(OUR_ID),
            bag(&[(
                "requests",
                r#"[{"auth": [], "domains": [], "requirer": "0f8fad5b-d9cb-469f-a165-70867728950e"}]"#
            )])
        );
    }

    #[test]
    fn requirer_id_is_kept_or_new() {
        let existing =
            r#"[{"auth": [], "domains": [], "requirer": "kept-id"}, {"requirer": "other"}]"#;
        assert_eq!(kept_requirer_id(Some(existing)).as_deref(), Some("kept-id"));
        assert_eq!(requirer_id(Some(existing)).unwrap(), "kept-id");
        for unusable in [
            None,
            Some(""),
            Some("not json"),
            Some("[]"),
            Some("{}"),
            Some(r#"[{"auth": []}]"#),
            Some(r#"[{"requirer": 5}]"#),
            Some(r#"["x"]"#),
        ] {
            assert_eq!(kept_requirer_id(unusable), None, "{unusable:?}");
            let id = requirer_id(unusable).unwrap();
            assert_is_v4(&id);
        }
        assert_ne!(requirer_id(None).unwrap(), requirer_id(None).unwrap());
    }

    fn assert_is_v4(id: &str) {
        assert_eq!(id.len(), 36, "{id}");
        let groups: Vec<&str> = id.split('-').collect();
        assert_eq!(
            groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12],
            "{id}"
        );
        assert!(
            id.chars()
                .all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c)),
            "{id}"
        );
        assert!(groups[2].starts_with('4'), "version: {id}");
        assert!(
            matches!(groups[3].chars().next(), Some('8' | '9' | 'a' | 'b')),
            "variant: {id}"
        );
    }

    #[test]
    fn leader_finds_its_response_by_id() {
        let responses = format!(
            r#"[{{"requirer": "someone-else", "status": "ready", "auth": "none", "http_proxy": "http://other:1", "https_proxy": "http://other:1"}}, {}]"#,
            ready_response("")
                .trim_start_matches('[')
                .trim_end_matches(']')
        );
        let data = leader_data(&responses, None);
        assert_eq!(
            env(&data),
            Readiness::Ready(vars(&[
                ("http_proxy", "http://squid.internal:3128/"),
                ("HTTP_PROXY", "http://squid.internal:3128/"),
                ("https_proxy", "http://squid.internal:3128/"),
                ("HTTPS_PROXY", "http://squid.internal:3128/"),
            ]))
        );
        // Without our request there is no response of ours: blocked.
        let mut data = leader_data(&ready_response(""), None);
        data.own_requests = None;
        assert_eq!(env(&data), Readiness::Invalid);
        let mut data = leader_data(&ready_response(""), None);
        data.own_requests = Some(request_bag("another-id")["requests"].clone());
        assert_eq!(env(&data), Readiness::Invalid);
    }

    #[test]
    fn non_leader_uses_the_only_response() {
        let mut data = leader_data(&ready_response(""), None);
        data.leader = false;
        data.own_requests = None;
        assert!(env(&data).is_ready());
        let two = r#"[{"requirer": "a", "status": "ready", "auth": "none", "http_proxy": "http://p:1", "https_proxy": "http://p:1"}, {"requirer": "b", "status": "ready", "auth": "none", "http_proxy": "http://p:1", "https_proxy": "http://p:1"}]"#;
        data.remote_app_bag = bag(&[("responses", two)]);
        assert_eq!(env(&data), Readiness::Invalid);
        data.remote_app_bag = bag(&[("responses", "[]")]);
        assert_eq!(env(&data), Readiness::Invalid);
    }

    #[test]
    fn user_credentials_go_into_the_urls() {
        let data = leader_data(
            &format!(
                r#"[{{"requirer": "{OUR_ID}", "status": "ready", "auth": "userpass", "http_proxy": "http://squid.internal:3128/some/path", "https_proxy": "https://Squid.Internal:443", "user": "secret:proxy-user"}}]"#
            ),
            Some(&[("username", "u"), ("password", "p@ss")]),
        );
        assert_eq!(
            proxies(&data),
            Readiness::Ready(ProxyUrls {
                http_proxy: "http://u:p@ss@squid.internal:3128".into(),
                https_proxy: "https://u:p@ss@squid.internal".into(),
            })
        );
    }

    #[test]
    fn not_related_is_not_ready_and_falls_back_to_the_model() {
        let data = HttpProxyData::default();
        assert_eq!(env(&data), Readiness::NotReady);
        assert_eq!(
            effective_proxies(&proxies(&data), Some("http://model:3128".into()), None),
            (Some("http://model:3128".into()), None)
        );
        let ready = proxies(&leader_data(&ready_response(""), None));
        assert_eq!(
            effective_proxies(&ready, Some("http://model:3128".into()), None),
            (
                Some("http://squid.internal:3128/".into()),
                Some("http://squid.internal:3128/".into())
            )
        );
    }

    #[test]
    fn everything_short_of_usable_blocks_while_related() {
        let blocked = |data: HttpProxyData, why: &str| {
            assert_eq!(proxies(&data), Readiness::Invalid, "{why}");
            assert_eq!(env(&data), Readiness::Invalid, "{why}");
        };
        // No response at all.
        let mut data = leader_data("[]", None);
        data.remote_app_bag.clear();
        blocked(data, "no responses key");
        // Malformed `responses`.
        for bad in [
            "not json",
            "{}",
            r#"["x"]"#,
            r#"[{"status": "ready"}]"#,
            r#"[{"requirer": ["x"]}]"#,
        ] {
            blocked(leader_data(bad, None), bad);
        }
        let dup = format!(
            r#"[{{"requirer": "{OUR_ID}", "status": "pending"}}, {}]"#,
            ready_response("")
                .trim_start_matches('[')
                .trim_end_matches(']')
        );
        blocked(leader_data(&dup, None), "duplicate requirer");
        // Not ready statuses.
        for status in [
            "pending",
            "accepted",
            "rejected",
            "invalid",
            "unsupported",
            "error",
            "bogus",
        ] {
            let r = ready_response("").replace("\"ready\"", &format!("{status:?}"));
            blocked(leader_data(&r, None), status);
        }
        blocked(
            leader_data(
                &ready_response("").replace(r#""status": "ready", "#, ""),
                None,
            ),
            "no status",
        );
        // Ready but incomplete.
        blocked(
            leader_data(
                &ready_response("").replace(r#""auth": "none""#, r#""auth": """#),
                None,
            ),
            "empty auth",
        );
        blocked(
            leader_data(&ready_response("").replace(r#""auth": "none", "#, ""), None),
            "no auth",
        );
        blocked(
            leader_data(
                &ready_response("").replace(r#""auth": "none""#, r#""auth": 3"#),
                None,
            ),
            "auth not a string",
        );
        blocked(
            leader_data(
                &ready_response("").replace(r#", "https_proxy": "http://squid.internal:3128""#, ""),
                None,
            ),
            "one proxy only",
        );
        // Invalid URLs.
        for url in ["http://", "squid", "http://h:99999", "http://a b"] {
            let r =
                ready_response("").replace("http://squid.internal:3128\"}", &format!("{url}\"}}"));
            blocked(leader_data(&r, None), url);
        }
        // Userpass without a user, or with an unusable one.
        let userpass = ready_response("").replace(r#""auth": "none""#, r#""auth": "userpass""#);
        blocked(leader_data(&userpass, None), "userpass without user");
        let with_user = ready_response(r#", "user": "secret:proxy-user""#);
        let mut data = leader_data(&with_user, None);
        data.user_secret = SecretLookup::Unreadable;
        blocked(data, "unreadable secret");
        blocked(
            leader_data(&with_user, Some(&[("username", "u")])),
            "secret without password",
        );
        blocked(
            leader_data(&ready_response(r#", "user": 7"#), None),
            "user not a string",
        );
        blocked(
            leader_data(&ready_response(r#", "user": """#), None),
            "empty user",
        );
        // A null user is no user.
        assert!(proxies(&leader_data(&ready_response(r#", "user": null"#), None)).is_ready());
        assert_eq!(
            INVALID_MESSAGE,
            "http-proxy relation data is either unavailable, invalid or not usable."
        );
    }

    #[test]
    fn events() {
        let rel_event = |kind, endpoint: &str| {
            Event::Relation(RelationEvent {
                kind,
                relation: RelationId::new(endpoint, 3),
                remote_unit: None,
                remote_app: Some("squid".into()),
                departing_unit: None,
            })
        };
        assert!(writes_request(
            &rel_event(RelationKind::Joined, ENDPOINT),
            true,
            true
        ));
        assert!(writes_request(&Event::UpgradeCharm, true, true));
        assert!(!writes_request(&Event::UpgradeCharm, false, true));
        assert!(!writes_request(&Event::UpgradeCharm, true, false));
        assert!(!writes_request(
            &rel_event(RelationKind::Created, ENDPOINT),
            true,
            true
        ));
        assert!(!writes_request(
            &rel_event(RelationKind::Changed, ENDPOINT),
            true,
            true
        ));
        assert!(!writes_request(
            &rel_event(RelationKind::Joined, "ingress"),
            true,
            true
        ));
        assert!(!writes_request(&Event::ConfigChanged, true, true));
        assert!(reconciles_on(RelationKind::Changed));
        assert!(reconciles_on(RelationKind::Broken));
        assert!(!reconciles_on(RelationKind::Joined));
        assert!(!reconciles_on(RelationKind::Created));
        assert!(!reconciles_on(RelationKind::Departed));
    }

    /// Relation `http-proxy:4` with squid's `responses` and our request, and the user
    /// secret's latest revision when given.
    fn reader(responses: &str, user_secret: Option<Databag>) -> FakeReader {
        let rel = RelationId::new(ENDPOINT, 4);
        let mut reader = FakeReader::new()
            .app_bag(&rel, "squid", bag(&[("responses", responses)]))
            .app_bag(&rel, "blog", bag(&[("requests", &own_requests())]));
        if let Some(content) = user_secret {
            reader = reader.secret("secret:proxy-user", content);
        }
        reader
    }

    fn user_secret() -> Databag {
        bag(&[("username", "u"), ("password", "p")])
    }

    #[test]
    fn leader_read() {
        let responses = ready_response(r#", "user": "secret:proxy-user""#);
        let mut src = reader(&responses, Some(user_secret()));
        let rel = RelationId::new(ENDPOINT, 4);
        let data = read(&mut src, &rel, "squid", "blog", true).unwrap();
        assert_eq!(
            src.calls,
            [
                ReadCall::app_bag("http-proxy:4", "blog"),
                ReadCall::app_bag("http-proxy:4", "squid"),
                ReadCall::secret("secret:proxy-user", None, SecretRead::Refresh),
            ]
        );
        assert_eq!(data.own_requests, Some(own_requests()));
        assert_eq!(
            data.user_secret,
            SecretLookup::Found(bag(&[("username", "u"), ("password", "p")])),
            "the latest revision"
        );
        assert_eq!(
            env(&data),
            Readiness::Ready(vars(&[
                ("http_proxy", "http://u:p@squid.internal:3128"),
                ("HTTP_PROXY", "http://u:p@squid.internal:3128"),
                ("https_proxy", "http://u:p@squid.internal:3128"),
                ("HTTPS_PROXY", "http://u:p@squid.internal:3128"),
            ]))
        );
    }

    #[test]
    fn non_leader_read_skips_its_own_app_bag() {
        let responses = ready_response(r#", "user": "secret:proxy-user""#);
        let mut src = reader(&responses, None);
        let rel = RelationId::new(ENDPOINT, 4);
        let data = read(&mut src, &rel, "squid", "blog", false).unwrap();
        assert_eq!(
            src.calls,
            [
                ReadCall::app_bag("http-proxy:4", "squid"),
                ReadCall::secret("secret:proxy-user", None, SecretRead::Refresh),
            ]
        );
        assert_eq!(data.own_requests, None);
        assert_eq!(data.user_secret, SecretLookup::Unreadable);
        assert_eq!(env(&data), Readiness::Invalid);
    }

    #[test]
    fn read_without_user_or_relation() {
        let mut src = reader(&ready_response(""), None);
        let data = read(
            &mut src,
            &RelationId::new(ENDPOINT, 4),
            "squid",
            "blog",
            true,
        )
        .unwrap();
        assert_eq!(src.calls.len(), 2);
        assert!(env(&data).is_ready());
        let mut src = reader(&ready_response(""), None);
        let data = read(
            &mut src,
            &RelationId::new(ENDPOINT, 8),
            "squid",
            "blog",
            true,
        )
        .unwrap();
        assert!(data.remote_app_bag.is_empty() && data.own_requests.is_none());
        assert_eq!(env(&data), Readiness::Invalid, "related, but no response");
    }
}
