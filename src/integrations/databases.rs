//! The database requirers (`INTERFACES.md` 3): `postgresql`, `mysql` and `mongodb`,
//! each a few lines over one shared implementation of the data-interfaces protocol.

use indexmap::IndexMap;
use serde_json::Value;

use crate::integrations::kind::{
    EventError, EventHost, Integration, Reaction, ReadInput, Readout, RelationHooks,
    our_unit_and_remote_app_bags,
};
use crate::integrations::url::url_env;
use crate::integrations::{Readiness, SecretLookup};
use crate::juju::context::{RelationEvent, RelationId};
use crate::juju::relations::RelationReader;
use crate::juju::tools::{Databag, SecretRead, ToolError};
use crate::pyjson;

/// What the requirer asks to be delivered as Juju secrets.
const REQUESTED_SECRETS: [&str; 8] = [
    "username",
    "password",
    "tls",
    "tls-ca",
    "uris",
    "read-only-uris",
    "entity-name",
    "entity-password",
];
const PROVIDED_SECRETS: [&str; 1] = ["mtls-cert"];
/// The `secret-<group>` keys a provider may publish.
pub const SECRET_GROUPS: [&str; 5] = ["user", "tls", "mtls", "entity", "extra"];

/// The provider's data for one database relation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DatabaseData {
    /// The remote application databag.
    pub app_bag: Databag,
    /// The content of the `secret-user` secret, when the bag points to one.
    pub user_secret: SecretLookup,
}

/// The label under which a relation secret is registered: `postgresql.2.user.secret`.
pub fn secret_label(endpoint: &str, relation_id: u64, group: &str) -> String {
    format!("{endpoint}.{relation_id}.{group}.secret")
}

/// The connect string, when the provider's data is complete (`INTERFACES.md` 3.3).
pub fn connect_string(endpoint: &str, app: &str, data: &DatabaseData) -> Readiness<String> {
    let from_secret = match &data.user_secret {
        SecretLookup::Unreadable => return Readiness::Invalid,
        SecretLookup::Found(content)
            if ["username", "password", "uris"]
                .iter()
                .any(|k| content.contains_key(*k)) =>
        {
            Some(content)
        }
        _ => None,
    };
    let field = |key: &str| -> Option<&str> {
        match from_secret {
            Some(content) => content.get(key),
            None => data.app_bag.get(key),
        }
        .map(String::as_str)
        .filter(|v| !v.is_empty())
    };
    if let Some(uris) = field("uris") {
        return Readiness::Ready(uris.to_string());
    }
    let endpoints = data
        .app_bag
        .get("endpoints")
        .map(String::as_str)
        .filter(|v| !v.is_empty());
    let (Some(endpoints), Some(user), Some(password)) =
        (endpoints, field("username"), field("password"))
    else {
        return Readiness::NotReady;
    };
    let first = endpoints.split(',').next().unwrap_or(endpoints);
    let database = data
        .app_bag
        .get("database")
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .unwrap_or(app);
    Readiness::Ready(format!("{endpoint}://{user}:{password}@{first}/{database}"))
}

/// The `<NAME>_DB_*` variables of a ready database.
pub fn database_env(
    endpoint: &str,
    app: &str,
    data: &DatabaseData,
) -> Readiness<IndexMap<String, String>> {
    match connect_string(endpoint, app, data) {
        Readiness::Ready(url) => {
            let prefix = format!("{}_DB", endpoint.to_uppercase());
            match url_env(&prefix, &url, true) {
                Ok(env) => Readiness::Ready(env),
                Err(_) => Readiness::Invalid,
            }
        }
        Readiness::NotReady => Readiness::NotReady,
        Readiness::Invalid => Readiness::Invalid,
    }
}

/// What the leader writes on `<db>-relation-created`: (app bag, unit bag).
pub fn request(app: &str, cross_model: bool) -> (Databag, Databag) {
    let mut unit = Databag::new();
    unit.insert(
        "requested-secrets".into(),
        pyjson::dumps_strings(&REQUESTED_SECRETS),
    );
    if !cross_model {
        unit.insert(
            "provided-secrets".into(),
            pyjson::dumps_strings(&PROVIDED_SECRETS),
        );
    }
    let mut app_bag = unit.clone();
    app_bag.insert("database".into(), app.to_string());
    (app_bag, unit)
}

/// The `data` snapshot a unit keeps of the remote app bag (without its own `data`).
pub fn snapshot(remote_app_bag: &Databag) -> String {
    let map: serde_json::Map<String, Value> = remote_app_bag
        .iter()
        .filter(|(k, _)| k.as_str() != "data")
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    pyjson::dumps(&Value::Object(map))
}

/// Parse our previous snapshot; absent or unparseable is empty.
pub fn parse_snapshot(text: Option<&str>) -> Databag {
    let Some(text) = text else {
        return Databag::new();
    };
    match serde_json::from_str::<IndexMap<String, Value>>(text) {
        Ok(map) => map
            .into_iter()
            .map(|(k, v)| match v {
                Value::String(s) => (k, s),
                other => (k, other.to_string()),
            })
            .collect(),
        Err(_) => Databag::new(),
    }
}

/// The `secret-<group>` keys that are new since the previous snapshot.
pub fn new_secret_fields<'a>(previous: &Databag, current: &'a Databag) -> Vec<(&'a str, &'a str)> {
    SECRET_GROUPS
        .iter()
        .filter_map(|group| {
            let key = format!("secret-{group}");
            match (previous.contains_key(&key), current.get_key_value(&key)) {
                (false, Some((_, uri))) => Some((*group, uri.as_str())),
                _ => None,
            }
        })
        .collect()
}

/// What a `<db>-relation-changed` calls for, from the previous snapshot and the current
/// remote bag.
pub fn on_changed(previous: &Databag, current: &Databag) -> Reaction {
    Reaction::reconcile_if(changed_triggers_reconcile(previous, current), true)
}

/// Whether a `<db>-relation-changed` reconciles (with migrations), from the previous
/// snapshot and the current remote bag (`INTERFACES.md` 3.4).
pub fn changed_triggers_reconcile(previous: &Databag, current: &Databag) -> bool {
    let added = |k: &str| !previous.contains_key(k) && current.contains_key(k);
    if added("secret-user") || (added("username") && added("password")) {
        return true;
    }
    match current.get("endpoints") {
        Some(now) => previous.get("endpoints") != Some(now),
        None => false,
    }
}

/// Read a database relation's provider data, with its user secret.
pub fn read(
    src: &mut (impl RelationReader + ?Sized),
    rel: &RelationId,
    remote_app: &str,
) -> Result<DatabaseData, ToolError> {
    let app_bag = src.app_bag(rel, remote_app)?.unwrap_or_default();
    let user_secret = match app_bag.get("secret-user").filter(|s| !s.is_empty()) {
        None => SecretLookup::Absent,
        Some(uri) => {
            let label = secret_label(&rel.endpoint, rel.id, "user");
            match src.secret(uri, Some(&label), SecretRead::Refresh)? {
                Some(content) => SecretLookup::Found(content),
                None => SecretLookup::Unreadable,
            }
        }
    };
    Ok(DatabaseData {
        app_bag,
        user_secret,
    })
}

/// The handler of the `postgresql`, `mysql` and `mongodb` rows.
#[derive(Debug)]
pub struct Databases;

impl Integration for Databases {
    fn read(
        &self,
        src: &mut dyn RelationReader,
        input: &ReadInput<'_>,
    ) -> Result<Readout, ToolError> {
        let data = read(src, input.rel, input.remote_app)?;
        Ok(Readout::env(database_env(input.endpoint, input.app, &data)))
    }

    /// Keep a snapshot of the provider data; reconcile with migrations when credentials
    /// or endpoints arrived (`INTERFACES.md` 3.1, 3.4).
    fn on_changed(
        &self,
        host: &mut dyn EventHost,
        event: &RelationEvent,
    ) -> Result<Reaction, EventError> {
        let Some((ours, current)) = our_unit_and_remote_app_bags(host, event)? else {
            return Ok(Reaction::Nothing);
        };
        let previous = parse_snapshot(ours.get("data").map(String::as_str));
        let rel = &event.relation;
        let tools = host.tools();
        for (group, uri) in new_secret_fields(&previous, &current) {
            // Registering the label is all this read is for; a failure shows up later as
            // invalid data if it matters.
            let label = secret_label(&rel.endpoint, rel.id, group);
            let _ = tools.secret_get(Some(uri), Some(&label), SecretRead::Pinned);
        }
        let snapshot: Databag = [("data".to_string(), snapshot(&current))]
            .into_iter()
            .collect();
        tools.relation_set(rel, &snapshot, false)?;
        Ok(on_changed(&previous, &current))
    }
}

impl RelationHooks for Databases {
    /// The leader asks for a database named after the app.
    fn on_created(
        &self,
        host: &mut dyn EventHost,
        event: &RelationEvent,
    ) -> Result<(), EventError> {
        if !host.tools().is_leader()? {
            return Ok(());
        }
        // Not knowing the remote model is no reason to fail: take it as this model.
        let remote_model = host
            .tools()
            .relation_model_uuid(&event.relation)
            .unwrap_or(None);
        let cross_model = remote_model.is_some_and(|uuid| uuid != host.ctx().model_uuid);
        let (app_bag, unit_bag) = request(&host.ctx().app_name, cross_model);
        let tools = host.tools();
        tools.relation_set(&event.relation, &app_bag, true)?;
        tools.relation_set(&event.relation, &unit_bag, false)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrations::testing::bag;

    fn plain(pairs: &[(&str, &str)]) -> DatabaseData {
        DatabaseData {
            app_bag: bag(pairs),
            user_secret: SecretLookup::Absent,
        }
    }

    #[test]
    fn connect_string_examples() {
        let c = |ep, d: DatabaseData| connect_string(ep, "blog", &d);
        assert_eq!(
            c(
                "postgresql",
                plain(&[
                    ("database", "test-database"),
                    ("endpoints", "test-postgresql:5432,test-postgresql-2:5432"),
                    ("username", "test-username"),
                    ("password", "test-password")
                ])
            ),
            Readiness::Ready(
                "postgresql://test-username:test-password@test-postgresql:5432/test-database"
                    .into()
            )
        );
        assert_eq!(
            c(
                "postgresql",
                plain(&[
                    ("username", "u"),
                    ("password", "p"),
                    ("endpoints", "ep-0,ep-1")
                ])
            ),
            Readiness::Ready("postgresql://u:p@ep-0/blog".into())
        );
        assert_eq!(
            c(
                "mysql",
                plain(&[
                    ("endpoints", "mysql-primary:3306"),
                    ("username", "app"),
                    ("password", "s3cret")
                ])
            ),
            Readiness::Ready("mysql://app:s3cret@mysql-primary:3306/blog".into())
        );
        assert_eq!(
            c("mongodb", plain(&[("uris", "mongodb://foobar/")])),
            Readiness::Ready("mongodb://foobar/".into())
        );
        assert_eq!(
            c("postgresql", plain(&[("username", "u"), ("password", "p")])),
            Readiness::NotReady
        );
        assert_eq!(c("postgresql", plain(&[])), Readiness::NotReady);
    }

    #[test]
    fn secret_user_wins_and_unreadable_is_invalid() {
        let mut d = plain(&[
            ("endpoints", "pg-primary.prod.svc.cluster.local:5432"),
            ("database", "blog"),
            ("secret-user", "secret:u1"),
        ]);
        d.user_secret = SecretLookup::Found(bag(&[("username", "relation_7"), ("password", "pw")]));
        let env = match database_env("postgresql", "blog", &d) {
            Readiness::Ready(env) => env,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            env["POSTGRESQL_DB_CONNECT_STRING"],
            "postgresql://relation_7:pw@pg-primary.prod.svc.cluster.local:5432/blog"
        );
        assert_eq!(
            env["POSTGRESQL_DB_NETLOC"],
            "relation_7:pw@pg-primary.prod.svc.cluster.local:5432"
        );
        assert_eq!(env["POSTGRESQL_DB_NAME"], "blog");
        assert_eq!(env.len(), 12);
        d.user_secret = SecretLookup::Unreadable;
        assert_eq!(database_env("postgresql", "blog", &d), Readiness::Invalid);
    }

    #[test]
    fn bad_ports_are_invalid() {
        let d = plain(&[("uris", "postgresql://u:p@h:port/db")]);
        assert_eq!(database_env("postgresql", "blog", &d), Readiness::Invalid);
    }

    #[test]
    fn request_bags() {
        let (app, unit) = request("blog", false);
        assert_eq!(
            app["requested-secrets"],
            r#"["username", "password", "tls", "tls-ca", "uris", "read-only-uris", "entity-name", "entity-password"]"#
        );
        assert_eq!(app["provided-secrets"], r#"["mtls-cert"]"#);
        assert_eq!(app["database"], "blog");
        assert!(!unit.contains_key("database"));
        assert_eq!(unit.len(), 2);
        let (app, unit) = request("blog", true);
        assert!(!app.contains_key("provided-secrets") && !unit.contains_key("provided-secrets"));
    }

    #[test]
    fn snapshot_keeps_order_and_drops_data() {
        let remote = bag(&[
            ("username", "u"),
            ("password", "p"),
            ("endpoints", "mongo-0:27017"),
            ("data", "{}"),
            ("database", "blog"),
            ("uris", "mongodb://u:p@mongo-0:27017/blog"),
        ]);
        assert_eq!(
            snapshot(&remote),
            r#"{"username": "u", "password": "p", "endpoints": "mongo-0:27017", "database": "blog", "uris": "mongodb://u:p@mongo-0:27017/blog"}"#
        );
        assert_eq!(parse_snapshot(Some(&snapshot(&remote))).len(), 5);
        assert!(parse_snapshot(Some("garbage")).is_empty());
    }

    #[test]
    fn changed_events() {
        let empty = Databag::new();
        assert!(changed_triggers_reconcile(
            &empty,
            &bag(&[("secret-user", "s")])
        ));
        assert!(changed_triggers_reconcile(
            &empty,
            &bag(&[("username", "u"), ("password", "p")])
        ));
        assert!(!changed_triggers_reconcile(
            &bag(&[("username", "u")]),
            &bag(&[("username", "u"), ("password", "p")])
        ));
        assert!(changed_triggers_reconcile(
            &empty,
            &bag(&[("endpoints", "a")])
        ));
        assert!(changed_triggers_reconcile(
            &bag(&[("endpoints", "a")]),
            &bag(&[("endpoints", "b")])
        ));
        assert!(!changed_triggers_reconcile(
            &bag(&[("endpoints", "a")]),
            &bag(&[("endpoints", "a")])
        ));
        assert!(!changed_triggers_reconcile(&empty, &bag(&[("uris", "x")])));
        assert_eq!(
            new_secret_fields(
                &bag(&[("secret-user", "s1")]),
                &bag(&[("secret-user", "s1"), ("secret-tls", "s2")])
            ),
            vec![("tls", "s2")]
        );
    }
}
