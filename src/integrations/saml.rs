//! The `saml` requirer (`INTERFACES.md` 7): the SAML integrator publishes the identity
//! provider's entity id, metadata URL, certificates and endpoints in its app bag; we
//! write nothing and export the few `SAML_*` variables a Django app needs.

use indexmap::IndexMap;

use crate::integrations::Readiness;
use crate::integrations::kind::{EnvFn, OnChanged, ProviderData, Reaction, ReadFn, RelationHooks};
use crate::integrations::url::normalise_url;
use crate::juju::context::RelationId;
use crate::juju::relations::RelationReader;
use crate::juju::tools::{Databag, ToolError};

pub const ENDPOINT: &str = "saml";
pub const INTERFACE: &str = "saml";

/// The endpoint whose redirect URL is exported.
const SINGLE_SIGN_ON: &str = "SingleSignOnService";

/// What the provider published on the relation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SamlData {
    /// The remote application databag.
    pub app_bag: Databag,
}

/// Read the provider's app bag; a relation that is gone reads as empty.
pub fn read(
    src: &mut (impl RelationReader + ?Sized),
    rel: &RelationId,
    remote_app: &str,
) -> Result<SamlData, ToolError> {
    let app_bag = src.app_bag(rel, remote_app)?.unwrap_or_default();
    Ok(SamlData { app_bag })
}

/// Whether `saml-relation-changed` reconciles (with migrations): the provider has
/// published anything at all (validity is the state check's business).
pub fn changed_triggers_reconcile(remote_app_bag: &Databag) -> bool {
    !remote_app_bag.is_empty()
}

/// What `saml-relation-changed` calls for.
pub fn on_changed(remote_app_bag: &Databag) -> Reaction {
    Reaction::reconcile_if(changed_triggers_reconcile(remote_app_bag), true)
}

/// One SAML endpoint of the identity provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamlEndpoint {
    /// CamelCase name, e.g. `SingleSignOnService`.
    pub name: String,
    /// Normalised http(s) URL.
    pub url: String,
    pub binding: String,
    pub response_url: Option<String>,
}

/// The provider's data, parsed and validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamlParameters {
    pub entity_id: String,
    pub metadata_url: Option<String>,
    /// The first is the signing certificate.
    pub certificates: Vec<String>,
    /// Sorted by name.
    pub endpoints: Vec<SamlEndpoint>,
}

/// Python's `str.capitalize`: first character upper-cased, the rest lower-cased.
fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first
            .to_uppercase()
            .chain(chars.flat_map(char::to_lowercase))
            .collect(),
        None => String::new(),
    }
}

/// `single_sign_on_service` → `SingleSignOnService`.
fn camel_case(snake: &str) -> String {
    snake.split('_').map(capitalize).collect()
}

/// An http(s) URL as the reference stores it (pydantic `AnyHttpUrl`).
fn http_url(raw: &str) -> Result<String, ()> {
    normalise_url(raw, true).map_err(|_| ())
}

/// The endpoint announced by `key` (`<snake_name>_<method>_url`), or `None` when the key
/// does not announce one.
fn endpoint(bag: &Databag, key: &str) -> Option<Result<SamlEndpoint, ()>> {
    let (snake, method) = ["redirect", "post"].iter().find_map(|method| {
        key.strip_suffix(&format!("_{method}_url"))
            .map(|snake| (snake, *method))
    })?;
    Some((|| {
        let name = camel_case(snake);
        if name.is_empty() {
            return Err(());
        }
        let prefix = format!("{snake}_{method}_");
        let url = http_url(bag.get(key).ok_or(())?)?;
        let binding = bag.get(&format!("{prefix}binding")).ok_or(())?.clone();
        if binding.is_empty() {
            return Err(());
        }
        let response_url = bag
            .get(&format!("{prefix}response_url"))
            .map(|u| http_url(u))
            .transpose()?;
        Ok(SamlEndpoint {
            name,
            url,
            binding,
            response_url,
        })
    })())
}

/// Parse the provider's bag (`INTERFACES.md` 7, "Parse").
pub fn parameters(bag: &Databag) -> Readiness<SamlParameters> {
    if bag.is_empty() {
        return Readiness::NotReady;
    }
    let parsed = (|| -> Result<SamlParameters, ()> {
        let mut endpoints = bag
            .keys()
            .filter_map(|key| endpoint(bag, key))
            .collect::<Result<Vec<_>, _>>()?;
        // Stable, like Python's `list.sort`: equal names keep the bag's order.
        endpoints.sort_by(|a, b| a.name.cmp(&b.name));
        let entity_id = bag
            .get("entity_id")
            .filter(|e| !e.is_empty())
            .ok_or(())?
            .clone();
        let metadata_url = bag.get("metadata_url").map(|u| http_url(u)).transpose()?;
        let certificates = bag
            .get("x509certs")
            .ok_or(())?
            .split(',')
            .map(String::from)
            .collect();
        Ok(SamlParameters {
            entity_id,
            metadata_url,
            certificates,
            endpoints,
        })
    })();
    match parsed {
        Ok(p) => Readiness::Ready(p),
        Err(()) => Readiness::Invalid,
    }
}

/// The `SAML_*` variables (`INTERFACES.md` 7, "Env").
pub fn env(data: &SamlData) -> Readiness<IndexMap<String, String>> {
    let p = match parameters(&data.app_bag) {
        Readiness::Ready(p) => p,
        Readiness::NotReady => return Readiness::NotReady,
        Readiness::Invalid => return Readiness::Invalid,
    };
    let mut env = IndexMap::new();
    env.insert("SAML_ENTITY_ID".to_string(), p.entity_id.clone());
    if let Some(url) = &p.metadata_url {
        env.insert("SAML_METADATA_URL".to_string(), url.clone());
    }
    let sign_on = p
        .endpoints
        .iter()
        .find(|e| e.name == SINGLE_SIGN_ON && e.binding.to_lowercase().contains("redirect"));
    if let Some(e) = sign_on {
        env.insert(
            "SAML_SINGLE_SIGN_ON_REDIRECT_URL".to_string(),
            e.url.clone(),
        );
    }
    if let Some(cert) = p.certificates.first() {
        env.insert("SAML_SIGNING_CERTIFICATE".to_string(), cert.clone());
    }
    Readiness::Ready(env)
}

/// The handler of the `saml` row.
#[derive(Debug)]
pub struct Saml;

impl ProviderData for Saml {
    type Data = SamlData;
    const READ: ReadFn<SamlData> = |src, rel, remote| read(src, rel, remote);
    const ENV: EnvFn<SamlData> = |data, _| env(data);
    const ON_CHANGED: OnChanged<SamlData> = OnChanged::Bag(on_changed);
}

impl RelationHooks for Saml {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrations::testing::{FakeReader, ReadCall, bag, pairs};

    fn data(pairs: &[(&str, &str)]) -> SamlData {
        SamlData {
            app_bag: bag(pairs),
        }
    }

    fn ready(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        match env(&data(pairs)) {
            Readiness::Ready(env) => env.into_iter().collect(),
            other => panic!("expected ready, got {other:?}"),
        }
    }

    const REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
    const POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";

    fn example() -> Vec<(&'static str, &'static str)> {
        vec![
            ("entity_id", "https://login.staging.ubuntu.com"),
            (
                "metadata_url",
                "https://login.staging.ubuntu.com/saml/metadata",
            ),
            ("single_logout_service_redirect_binding", REDIRECT),
            (
                "single_logout_service_redirect_response_url",
                "https://login.staging.ubuntu.com/+logout",
            ),
            (
                "single_logout_service_redirect_url",
                "https://login.staging.ubuntu.com/+logout",
            ),
            ("single_sign_on_service_redirect_binding", REDIRECT),
            (
                "single_sign_on_service_redirect_url",
                "https://login.staging.ubuntu.com/saml/",
            ),
            ("x509certs", "CERTAAA,CERTBBB"),
        ]
    }

    #[test]
    fn reference_example_full_env() {
        assert_eq!(
            ready(&example()),
            pairs(&[
                ("SAML_ENTITY_ID", "https://login.staging.ubuntu.com"),
                (
                    "SAML_METADATA_URL",
                    "https://login.staging.ubuntu.com/saml/metadata"
                ),
                (
                    "SAML_SINGLE_SIGN_ON_REDIRECT_URL",
                    "https://login.staging.ubuntu.com/saml/"
                ),
                ("SAML_SIGNING_CERTIFICATE", "CERTAAA"),
            ])
        );
    }

    #[test]
    fn parsed_endpoints_are_sorted_and_named() {
        let Readiness::Ready(p) = parameters(&bag(&example())) else {
            panic!("not ready");
        };
        let names: Vec<&str> = p.endpoints.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["SingleLogoutService", "SingleSignOnService"]);
        assert_eq!(
            p.endpoints[0].response_url.as_deref(),
            Some("https://login.staging.ubuntu.com/+logout")
        );
        assert_eq!(p.certificates, ["CERTAAA", "CERTBBB"]);
    }

    #[test]
    fn bare_host_gains_a_slash() {
        let got = ready(&[
            ("entity_id", "https://idp.example"),
            (
                "single_sign_on_service_redirect_url",
                "http://testing-redirect-url.test",
            ),
            ("single_sign_on_service_redirect_binding", REDIRECT),
            ("x509certs", "CERT"),
        ]);
        assert_eq!(
            got,
            pairs(&[
                ("SAML_ENTITY_ID", "https://idp.example"),
                (
                    "SAML_SINGLE_SIGN_ON_REDIRECT_URL",
                    "http://testing-redirect-url.test/"
                ),
                ("SAML_SIGNING_CERTIFICATE", "CERT"),
            ])
        );
    }

    #[test]
    fn post_only_and_no_metadata() {
        let got = ready(&[
            ("entity_id", "https://idp.example"),
            ("single_sign_on_service_post_url", "https://idp.example/sso"),
            ("single_sign_on_service_post_binding", POST),
            ("x509certs", "CERT1,CERT2"),
        ]);
        assert_eq!(
            got,
            pairs(&[
                ("SAML_ENTITY_ID", "https://idp.example"),
                ("SAML_SIGNING_CERTIFICATE", "CERT1"),
            ])
        );
    }

    #[test]
    fn redirect_binding_is_matched_case_insensitively_and_post_is_skipped() {
        let got = ready(&[
            ("entity_id", "e"),
            ("single_sign_on_service_post_url", "https://idp/post"),
            ("single_sign_on_service_post_binding", POST),
            ("single_sign_on_service_redirect_url", "https://idp/redir"),
            (
                "single_sign_on_service_redirect_binding",
                "URN:X:HTTP-REDIRECT",
            ),
            ("x509certs", "C"),
        ]);
        assert_eq!(
            got[1],
            (
                "SAML_SINGLE_SIGN_ON_REDIRECT_URL".into(),
                "https://idp/redir".into()
            )
        );
    }

    #[test]
    fn not_ready_when_empty() {
        assert_eq!(env(&SamlData::default()), Readiness::NotReady);
    }

    #[test]
    fn malformed_data_is_invalid() {
        let without = |key: &str| {
            let mut d = data(&example());
            d.app_bag.shift_remove(key);
            env(&d)
        };
        let with = |key: &'static str, value: &'static str| {
            let mut d = data(&example());
            d.app_bag.insert(key.into(), value.into());
            env(&d)
        };
        assert_eq!(without("entity_id"), Readiness::Invalid);
        assert_eq!(without("x509certs"), Readiness::Invalid);
        assert_eq!(
            without("single_sign_on_service_redirect_binding"),
            Readiness::Invalid
        );
        assert_eq!(with("metadata_url", "ftp://x/"), Readiness::Invalid);
        assert_eq!(with("metadata_url", "not a url"), Readiness::Invalid);
        assert_eq!(
            with("single_sign_on_service_redirect_url", "http://"),
            Readiness::Invalid
        );
        assert_eq!(
            with("single_logout_service_redirect_response_url", "nope"),
            Readiness::Invalid
        );
        // An endpoint key with no name before the method.
        assert_eq!(with("_post_url", "https://x/"), Readiness::Invalid);
        // Something, but nothing usable.
        assert_eq!(env(&data(&[("foo", "bar")])), Readiness::Invalid);
    }

    #[test]
    fn camel_case_is_python_capitalize() {
        assert_eq!(camel_case("single_sign_on_service"), "SingleSignOnService");
        assert_eq!(camel_case("SINGLE_logout"), "SingleLogout");
        assert_eq!(camel_case("a__b"), "AB");
        assert_eq!(camel_case(""), "");
    }

    #[test]
    fn changed_event() {
        assert!(changed_triggers_reconcile(&bag(&[("entity_id", "e")])));
        assert!(!changed_triggers_reconcile(&Databag::new()));
    }

    #[test]
    fn read_gets_the_remote_app_bag() {
        let rel = RelationId::new(ENDPOINT, 2);
        let mut src = FakeReader::new().app_bag(&rel, "saml-integrator", bag(&example()));
        let d = read(&mut src, &rel, "saml-integrator").unwrap();
        assert_eq!(d.app_bag, bag(&example()));
        assert_eq!(src.calls, [ReadCall::app_bag("saml:2", "saml-integrator")]);
        let gone = read(&mut src, &RelationId::new(ENDPOINT, 3), "saml-integrator").unwrap();
        assert_eq!(gone, SamlData::default());
    }
}
