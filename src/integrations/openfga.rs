//! The `openfga` requirer (`INTERFACES.md` 11): the store request we publish, the
//! provider's server URLs, store and token (kept in a Juju secret by current providers),
//! and the `FGA_*` variables.

use indexmap::IndexMap;

use crate::integrations::kind::{
    EnvFn, EventError, EventHost, OnChanged, ProviderData, Reaction, ReadFn, RelationHooks,
    leader_writes,
};
use crate::integrations::{Readiness, SecretLookup};
use crate::juju::context::{RelationEvent, RelationId};
use crate::juju::relations::RelationReader;
use crate::juju::tools::{Databag, SecretRead, ToolError};

pub const ENDPOINT: &str = "openfga";
pub const INTERFACE: &str = "openfga";

/// The store name requested: a fixed string in the reference, not the application name.
pub const STORE_NAME: &str = "app-store";

/// What the provider has published.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OpenFgaData {
    /// The remote application bag.
    pub app_bag: Databag,
    /// The `token_secret_id` secret, when the bag names one.
    pub token_secret: SecretLookup,
}

/// Read the remote app bag and, when `token_secret_id` is non-empty, that secret
/// (`secret-get <id>`, pinned: the reference reads it without refreshing). A relation
/// that is gone reads as empty data.
pub fn read(
    src: &mut (impl RelationReader + ?Sized),
    rel: &RelationId,
    remote_app: &str,
) -> Result<OpenFgaData, ToolError> {
    let app_bag = src.app_bag(rel, remote_app)?.unwrap_or_default();
    let token_secret = match app_bag.get("token_secret_id").filter(|s| !s.is_empty()) {
        None => SecretLookup::Absent,
        Some(id) => match src.secret(id, None, SecretRead::Pinned)? {
            Some(content) => SecretLookup::Found(content),
            None => SecretLookup::Unreadable,
        },
    };
    Ok(OpenFgaData {
        app_bag,
        token_secret,
    })
}

/// What the leader writes on `openfga-relation-created`.
pub fn store_request() -> Databag {
    let mut bag = Databag::new();
    bag.insert("store_name".into(), STORE_NAME.to_string());
    bag
}

/// Whether the provider's data loads: both server URLs are there. Until then the
/// integration is silently not ready, never invalid.
pub fn has_server_urls(data: &OpenFgaData) -> bool {
    data.app_bag.contains_key("grpc_api_url") && data.app_bag.contains_key("http_api_url")
}

/// The `FGA_*` variables, each when its key is present, in the spec's order. A token
/// secret that cannot be read, or that holds no `token` (the reference fails on the
/// missing key), makes the data invalid.
pub fn env(data: &OpenFgaData) -> Readiness<IndexMap<String, String>> {
    if !has_server_urls(data) {
        return Readiness::NotReady;
    }
    let token = match &data.token_secret {
        SecretLookup::Absent => data.app_bag.get("token").cloned(),
        SecretLookup::Found(content) => match content.get("token") {
            Some(token) => Some(token.clone()),
            None => return Readiness::Invalid,
        },
        SecretLookup::Unreadable => return Readiness::Invalid,
    };
    let get = |key: &str| data.app_bag.get(key).cloned();
    let pairs = [
        ("FGA_STORE_ID", get("store_id")),
        ("FGA_TOKEN", token),
        ("FGA_GRPC_API_URL", get("grpc_api_url")),
        ("FGA_HTTP_API_URL", get("http_api_url")),
    ];
    Readiness::Ready(
        pairs
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
            .collect(),
    )
}

/// Whether `openfga-relation-changed` reconciles: the provider data is valid in the
/// library's sense (both URLs present). A token secret problem is not looked at here:
/// the reconcile's state check reports it as `Invalid openfga relation data.`, where the
/// reference would fail in that same reconcile.
pub fn changed_triggers_reconcile(data: &OpenFgaData) -> bool {
    has_server_urls(data)
}

/// What `openfga-relation-changed` calls for (no migrations).
pub fn on_changed(data: &OpenFgaData) -> Reaction {
    Reaction::reconcile_if(changed_triggers_reconcile(data), false)
}

/// The handler of the `openfga` row.
#[derive(Debug)]
pub struct Openfga;

impl ProviderData for Openfga {
    type Data = OpenFgaData;
    const READ: ReadFn<OpenFgaData> = |src, rel, remote| read(src, rel, remote);
    const ENV: EnvFn<OpenFgaData> = |data, _| env(data);
    const ON_CHANGED: OnChanged<OpenFgaData> = OnChanged::Data(on_changed);
}

impl RelationHooks for Openfga {
    /// The leader asks for the store.
    fn on_created(
        &self,
        host: &mut dyn EventHost,
        event: &RelationEvent,
    ) -> Result<(), EventError> {
        leader_writes(host, event, || Ok(store_request()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrations::testing::{FakeReader, ReadCall, bag};

    fn plain(pairs: &[(&str, &str)]) -> OpenFgaData {
        OpenFgaData {
            app_bag: bag(pairs),
            token_secret: SecretLookup::Absent,
        }
    }

    fn expect(data: &OpenFgaData, expected: &[(&str, &str)]) {
        let Readiness::Ready(vars) = env(data) else {
            panic!("not ready: {:?}", env(data));
        };
        let got: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn example_with_a_plain_token() {
        expect(
            &plain(&[
                ("http_api_url", "localhost:8080"),
                ("grpc_api_url", "localhost:8081"),
                ("token", "test-token"),
                ("store_id", "test-store-id"),
            ]),
            &[
                ("FGA_STORE_ID", "test-store-id"),
                ("FGA_TOKEN", "test-token"),
                ("FGA_GRPC_API_URL", "localhost:8081"),
                ("FGA_HTTP_API_URL", "localhost:8080"),
            ],
        );
    }

    #[test]
    fn example_with_a_token_secret() {
        let data = OpenFgaData {
            app_bag: bag(&[
                ("grpc_api_url", "openfga:8081"),
                ("http_api_url", "http://openfga:8080"),
                ("store_id", "01HX"),
                ("token", "legacy"),
                ("token_secret_id", "secret:tok"),
            ]),
            token_secret: SecretLookup::Found(bag(&[("token", "t0k")])),
        };
        expect(
            &data,
            &[
                ("FGA_STORE_ID", "01HX"),
                ("FGA_TOKEN", "t0k"),
                ("FGA_GRPC_API_URL", "openfga:8081"),
                ("FGA_HTTP_API_URL", "http://openfga:8080"),
            ],
        );
    }

    #[test]
    fn keys_appear_only_when_present() {
        // No store yet, no token: only the URLs.
        expect(
            &plain(&[("grpc_api_url", "g"), ("http_api_url", "h")]),
            &[("FGA_GRPC_API_URL", "g"), ("FGA_HTTP_API_URL", "h")],
        );
        // A store_id key with an empty value still gives the variable.
        expect(
            &plain(&[
                ("store_id", ""),
                ("grpc_api_url", "g"),
                ("http_api_url", "h"),
            ]),
            &[
                ("FGA_STORE_ID", ""),
                ("FGA_GRPC_API_URL", "g"),
                ("FGA_HTTP_API_URL", "h"),
            ],
        );
    }

    #[test]
    fn not_ready_without_both_urls() {
        for pairs in [
            &[][..],
            &[("grpc_api_url", "g")][..],
            &[("http_api_url", "h"), ("token", "t"), ("store_id", "s")][..],
        ] {
            let data = plain(pairs);
            assert_eq!(env(&data), Readiness::NotReady);
            assert!(!changed_triggers_reconcile(&data));
        }
        // Not ready wins over a token problem: the URLs are checked first.
        let data = OpenFgaData {
            app_bag: bag(&[("grpc_api_url", "g"), ("token_secret_id", "secret:x")]),
            token_secret: SecretLookup::Unreadable,
        };
        assert_eq!(env(&data), Readiness::NotReady);
    }

    #[test]
    fn token_secret_problems_are_invalid() {
        let urls = bag(&[
            ("grpc_api_url", "g"),
            ("http_api_url", "h"),
            ("token_secret_id", "secret:x"),
        ]);
        for token_secret in [
            SecretLookup::Unreadable,
            SecretLookup::Found(bag(&[("other", "v")])),
        ] {
            let data = OpenFgaData {
                app_bag: urls.clone(),
                token_secret,
            };
            assert_eq!(env(&data), Readiness::Invalid);
            // Changed still reconciles, so the state check shows the problem.
            assert!(changed_triggers_reconcile(&data));
        }
    }

    #[test]
    fn store_request_is_fixed() {
        assert_eq!(store_request(), bag(&[("store_name", "app-store")]));
    }

    /// Relation `openfga:8` with the provider's `app_data`; of the secrets, only
    /// `secret:tok` is readable, at its pinned revision.
    fn reader(app_data: &[(&str, &str)]) -> FakeReader {
        FakeReader::new()
            .app_bag(&RelationId::new("openfga", 8), "openfga", bag(app_data))
            .secret("secret:tok", bag(&[("token", "first")]))
    }

    #[test]
    fn read_takes_the_pinned_token() {
        let rel = RelationId::new("openfga", 8);
        let mut src = reader(&[
            ("grpc_api_url", "g"),
            ("http_api_url", "h"),
            ("token_secret_id", "secret:tok"),
        ]);
        let data = read(&mut src, &rel, "openfga").unwrap();
        assert_eq!(
            src.calls,
            vec![
                ReadCall::app_bag("openfga:8", "openfga"),
                ReadCall::secret("secret:tok", None, SecretRead::Pinned),
            ]
        );
        assert_eq!(
            data.token_secret,
            SecretLookup::Found(bag(&[("token", "first")]))
        );

        let mut src = reader(&[
            ("grpc_api_url", "g"),
            ("http_api_url", "h"),
            ("token_secret_id", "secret:hidden"),
        ]);
        let data = read(&mut src, &rel, "openfga").unwrap();
        assert_eq!(data.token_secret, SecretLookup::Unreadable);
        assert_eq!(env(&data), Readiness::Invalid);

        let mut src = reader(&[("grpc_api_url", "g"), ("http_api_url", "h")]);
        let data = read(&mut src, &rel, "openfga").unwrap();
        assert_eq!(data.token_secret, SecretLookup::Absent);
        assert_eq!(src.calls.len(), 1);

        let gone = read(&mut src, &RelationId::new("openfga", 9), "openfga").unwrap();
        assert_eq!(gone, OpenFgaData::default());
    }
}
