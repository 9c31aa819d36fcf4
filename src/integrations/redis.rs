//! The `redis` requirer (`INTERFACES.md` 4): the provider publishes `hostname` and `port`
//! in its unit bags and, on newer providers, `leader-host` in its app bag. We write
//! nothing; we turn what we read into a `redis://host:port` URL and its `REDIS_DB_*`
//! variables.

use indexmap::IndexMap;

use crate::integrations::Readiness;
use crate::integrations::kind::{EnvFn, OnChanged, ProviderData, Reaction, ReadFn, RelationHooks};
use crate::integrations::url::{normalise_url, url_env};
use crate::juju::context::{RelationEvent, RelationId};
use crate::juju::relations::RelationReader;
use crate::juju::tools::{Databag, ToolError};

pub const ENDPOINT: &str = "redis";
pub const INTERFACE: &str = "redis";

/// The variable prefix of 1.3.
const PREFIX: &str = "REDIS_DB";

/// What the provider published on the relation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RedisData {
    /// The remote unit with the lowest unit number, if any unit has joined.
    pub remote_unit: Option<String>,
    /// That unit's databag (empty when there is no unit).
    pub unit_bag: Databag,
    /// The remote application databag.
    pub app_bag: Databag,
}

/// The number after the `/` of a unit name; names without one sort last.
fn unit_number(unit: &str) -> u64 {
    unit.rsplit_once('/')
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or(u64::MAX)
}

/// The unit whose bag we read: the lowest unit number (name as tie-breaker, so the
/// choice never depends on the order `relation-list` prints).
pub fn first_unit(units: &[String]) -> Option<&String> {
    units.iter().min_by_key(|u| (unit_number(u), u.as_str()))
}

/// Read the provider data: `relation-list`, then the chosen unit's bag and the app bag.
/// Without a remote unit the relation is not ready whatever the app bag says, so the
/// bags are not read at all.
pub fn read(
    src: &mut (impl RelationReader + ?Sized),
    rel: &RelationId,
    remote_app: &str,
) -> Result<RedisData, ToolError> {
    let units = src.units(rel)?.unwrap_or_default();
    let Some(unit) = first_unit(&units).cloned() else {
        return Ok(RedisData::default());
    };
    let unit_bag = src.unit_bag(rel, &unit)?.unwrap_or_default();
    let app_bag = src.app_bag(rel, remote_app)?.unwrap_or_default();
    Ok(RedisData {
        remote_unit: Some(unit),
        unit_bag,
        app_bag,
    })
}

/// The URL as the reference's library builds it: `leader-host` wins over the unit's
/// `hostname`, and a missing value is formatted the way Python formats `None`.
/// `None` when there is no remote unit.
pub fn raw_url(data: &RedisData) -> Option<String> {
    data.remote_unit.as_ref()?;
    let host = data
        .app_bag
        .get("leader-host")
        .or_else(|| data.unit_bag.get("hostname"))
        .map_or("None", String::as_str);
    let port = data.unit_bag.get("port").map_or("None", String::as_str);
    Some(format!("redis://{host}:{port}"))
}

/// `re.fullmatch(r"redis://[^:/]+:None", url)`: the provider has not published its port
/// yet, which the reference treats as "no data" rather than as an error.
fn port_not_published(url: &str) -> bool {
    url.strip_prefix("redis://")
        .and_then(|rest| rest.strip_suffix(":None"))
        .is_some_and(|host| !host.is_empty() && !host.contains([':', '/']))
}

/// The `REDIS_DB_*` variables (`INTERFACES.md` 4).
pub fn env(data: &RedisData) -> Readiness<IndexMap<String, String>> {
    let Some(url) = raw_url(data) else {
        return Readiness::NotReady;
    };
    if port_not_published(&url) {
        return Readiness::NotReady;
    }
    // The reference stores the pydantic-normalised URL, so that is what the variables
    // are made of (`redis://a:b:c@x:6379` becomes `redis://a:b%3Ac@x:6379`).
    let Ok(url) = normalise_url(&url, false) else {
        return Readiness::Invalid;
    };
    match url_env(PREFIX, &url, true) {
        Ok(env) => Readiness::Ready(env),
        Err(_) => Readiness::Invalid,
    }
}

/// Whether `redis-relation-joined` / `-changed` reconciles (with migrations): only when
/// the event carries a remote unit (`INTERFACES.md` 4; `-broken` always reconciles).
pub fn joined_or_changed_triggers_reconcile(remote_unit: Option<&str>) -> bool {
    remote_unit.is_some_and(|u| !u.is_empty())
}

/// What `redis-relation-joined` and `-changed` call for.
pub fn on_joined_or_changed(remote_unit: Option<&str>) -> Reaction {
    Reaction::reconcile_if(joined_or_changed_triggers_reconcile(remote_unit), true)
}

/// The handler of the `redis` row.
#[derive(Debug)]
pub struct Redis;

impl ProviderData for Redis {
    type Data = RedisData;
    const READ: ReadFn<RedisData> = |src, rel, remote| read(src, rel, remote);
    const ENV: EnvFn<RedisData> = |data, _| env(data);
    const ON_CHANGED: OnChanged<RedisData> =
        OnChanged::Event(|event| on_joined_or_changed(event.remote_unit.as_deref()));
}

impl RelationHooks for Redis {
    fn on_joined(&self, event: &RelationEvent) -> Reaction {
        on_joined_or_changed(event.remote_unit.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrations::testing::{FakeReader, ReadCall, bag};

    fn data(unit: &[(&str, &str)], app: &[(&str, &str)]) -> RedisData {
        RedisData {
            remote_unit: Some("redis-k8s/0".into()),
            unit_bag: bag(unit),
            app_bag: bag(app),
        }
    }

    fn ready(d: &RedisData) -> IndexMap<String, String> {
        match env(d) {
            Readiness::Ready(env) => env,
            other => panic!("expected ready, got {other:?}"),
        }
    }

    fn map(pairs: &[(&str, &str)]) -> IndexMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn worked_example_gives_the_whole_env() {
        let env = ready(&data(&[("hostname", "10.1.2.3"), ("port", "6379")], &[]));
        assert_eq!(
            env,
            map(&[
                ("REDIS_DB_CONNECT_STRING", "redis://10.1.2.3:6379"),
                ("REDIS_DB_SCHEME", "redis"),
                ("REDIS_DB_NETLOC", "10.1.2.3:6379"),
                ("REDIS_DB_PATH", ""),
                ("REDIS_DB_PARAMS", ""),
                ("REDIS_DB_QUERY", ""),
                ("REDIS_DB_FRAGMENT", ""),
                ("REDIS_DB_HOSTNAME", "10.1.2.3"),
                ("REDIS_DB_PORT", "6379"),
            ])
        );
        // Same order too, not only the same pairs.
        assert!(
            env.keys().eq(map(&[
                ("REDIS_DB_CONNECT_STRING", ""),
                ("REDIS_DB_SCHEME", ""),
                ("REDIS_DB_NETLOC", ""),
                ("REDIS_DB_PATH", ""),
                ("REDIS_DB_PARAMS", ""),
                ("REDIS_DB_QUERY", ""),
                ("REDIS_DB_FRAGMENT", ""),
                ("REDIS_DB_HOSTNAME", ""),
                ("REDIS_DB_PORT", ""),
            ])
            .keys())
        );
    }

    #[test]
    fn reference_test_urls() {
        let env = ready(&data(&[("hostname", "redis.url"), ("port", "8888")], &[]));
        assert_eq!(env["REDIS_DB_CONNECT_STRING"], "redis://redis.url:8888");
        let env = ready(&data(
            &[("hostname", "user:pass@redis.url"), ("port", "8888")],
            &[("leader-host", "leader:host@redis.url")],
        ));
        assert_eq!(
            env,
            map(&[
                (
                    "REDIS_DB_CONNECT_STRING",
                    "redis://leader:host@redis.url:8888"
                ),
                ("REDIS_DB_SCHEME", "redis"),
                ("REDIS_DB_NETLOC", "leader:host@redis.url:8888"),
                ("REDIS_DB_PATH", ""),
                ("REDIS_DB_PARAMS", ""),
                ("REDIS_DB_QUERY", ""),
                ("REDIS_DB_FRAGMENT", ""),
                ("REDIS_DB_USERNAME", "leader"),
                ("REDIS_DB_PASSWORD", "host"),
                ("REDIS_DB_HOSTNAME", "redis.url"),
                ("REDIS_DB_PORT", "8888"),
            ])
        );
    }

    #[test]
    fn quirks_kept() {
        // A missing hostname is Python's `None`, lower-cased as a host name.
        let env = ready(&data(&[("port", "6379")], &[]));
        assert_eq!(env["REDIS_DB_CONNECT_STRING"], "redis://None:6379");
        assert_eq!(env["REDIS_DB_HOSTNAME"], "none");
        // Userinfo is percent-encoded by the normalisation.
        let env = ready(&data(&[("hostname", "a:b:c@x"), ("port", "6379")], &[]));
        assert_eq!(env["REDIS_DB_CONNECT_STRING"], "redis://a:b%3Ac@x:6379");
        assert_eq!(env["REDIS_DB_USERNAME"], "a");
        assert_eq!(env["REDIS_DB_PASSWORD"], "b%3Ac");
        // Host case is kept in the URL, lower-cased in HOSTNAME.
        let env = ready(&data(&[("hostname", "HOST.Ex"), ("port", "6379")], &[]));
        assert_eq!(env["REDIS_DB_CONNECT_STRING"], "redis://HOST.Ex:6379");
        assert_eq!(env["REDIS_DB_HOSTNAME"], "host.ex");
    }

    #[test]
    fn not_ready() {
        assert_eq!(env(&RedisData::default()), Readiness::NotReady);
        // A relation whose app bag is filled but no unit has joined.
        let no_unit = RedisData {
            remote_unit: None,
            unit_bag: Databag::new(),
            app_bag: bag(&[("leader-host", "h")]),
        };
        assert_eq!(env(&no_unit), Readiness::NotReady);
        // Port not published yet.
        assert_eq!(
            env(&data(&[("hostname", "10.1.2.3")], &[])),
            Readiness::NotReady
        );
        assert_eq!(env(&data(&[], &[])), Readiness::NotReady);
        assert_eq!(
            env(&data(&[], &[("leader-host", "redis-k8s-0.redis")])),
            Readiness::NotReady
        );
    }

    #[test]
    fn malformed_data_is_invalid() {
        // Not a port.
        assert_eq!(
            env(&data(&[("hostname", "h"), ("port", "notaport")], &[])),
            Readiness::Invalid
        );
        assert_eq!(
            env(&data(&[("hostname", "h"), ("port", "99999")], &[])),
            Readiness::Invalid
        );
        // `None` port with a host the fullmatch rejects: the URL is then parsed, and
        // `None` is not a port.
        assert_eq!(
            env(&data(&[("hostname", "u:p@h")], &[])),
            Readiness::Invalid
        );
        // Empty host.
        assert_eq!(
            env(&data(&[("hostname", "@"), ("port", "6379")], &[])),
            Readiness::Invalid
        );
    }

    #[test]
    fn port_placeholder_match_is_a_full_match() {
        assert!(port_not_published("redis://h:None"));
        assert!(!port_not_published("redis://:None"));
        assert!(!port_not_published("redis://a:b:None"));
        assert!(!port_not_published("redis://a/b:None"));
        assert!(!port_not_published("redis://h:Nonex"));
        assert!(!port_not_published("rediss://h:None"));
    }

    #[test]
    fn lowest_unit_number_wins() {
        let units: Vec<String> = ["redis/10", "redis/2", "redis/3"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(first_unit(&units).map(String::as_str), Some("redis/2"));
        assert_eq!(first_unit(&[]), None);
    }

    #[test]
    fn events() {
        assert!(joined_or_changed_triggers_reconcile(Some("redis-k8s/0")));
        assert!(!joined_or_changed_triggers_reconcile(None));
        assert!(!joined_or_changed_triggers_reconcile(Some("")));
    }

    /// Relation `redis:4` with these units (listed in this order) and the app bag.
    fn reader(units: &[(&str, Databag)], app: Databag) -> FakeReader {
        let rel = RelationId::new(ENDPOINT, 4);
        let mut reader = FakeReader::new().app_bag(&rel, "redis-k8s", app);
        for (unit, data) in units {
            reader = reader.unit(&rel, unit, data.clone());
        }
        reader
    }

    #[test]
    fn read_takes_the_lowest_unit_and_the_app_bag() {
        let mut src = reader(
            &[
                ("redis-k8s/1", bag(&[("hostname", "h1"), ("port", "1")])),
                ("redis-k8s/0", bag(&[("hostname", "h0"), ("port", "6379")])),
            ],
            bag(&[("leader-host", "leader")]),
        );
        let rel = RelationId::new(ENDPOINT, 4);
        let d = read(&mut src, &rel, "redis-k8s").unwrap();
        assert_eq!(d.remote_unit.as_deref(), Some("redis-k8s/0"));
        assert_eq!(d.unit_bag, bag(&[("hostname", "h0"), ("port", "6379")]));
        assert_eq!(d.app_bag, bag(&[("leader-host", "leader")]));
        assert_eq!(
            src.calls,
            vec![
                ReadCall::units("redis:4"),
                ReadCall::unit_bag("redis:4", "redis-k8s/0"),
                ReadCall::app_bag("redis:4", "redis-k8s"),
            ]
        );
        assert_eq!(ready(&d)["REDIS_DB_CONNECT_STRING"], "redis://leader:6379");
    }

    #[test]
    fn read_without_units_or_relation_is_empty() {
        let mut src = reader(&[], bag(&[("leader-host", "leader")]));
        let d = read(&mut src, &RelationId::new(ENDPOINT, 4), "redis-k8s").unwrap();
        assert_eq!(d, RedisData::default());
        let d = read(&mut src, &RelationId::new(ENDPOINT, 9), "redis-k8s").unwrap();
        assert_eq!(d, RedisData::default());
    }
}
