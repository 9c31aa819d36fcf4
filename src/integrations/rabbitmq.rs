//! The `rabbitmq` requirer (`INTERFACES.md` 8): the access request we publish, the
//! provider's credentials in either of its two flavours (rabbitmq-k8s publishes them in
//! its application bag, the machine charm rabbitmq-server in every unit bag), and the
//! `RABBITMQ_*` variables built from them.

use indexmap::IndexMap;

use crate::integrations::Readiness;
use crate::integrations::kind::{
    EnvFn, EventError, EventHost, Integration, OnChanged, ProviderData, Reaction, ReadFn,
    RelationHooks, leader_writes,
};
use crate::integrations::url::{decompose, url_env};
use crate::juju::context::{RelationEvent, RelationId};
use crate::juju::relations::RelationReader;
use crate::juju::tools::{Databag, ToolError};

pub const ENDPOINT: &str = "rabbitmq";
pub const INTERFACE: &str = "rabbitmq";

/// The virtual host we ask for.
pub const VHOST: &str = "/";
/// The AMQP port: the protocol carries no port, every provider listens here.
pub const PORT: u16 = 5672;

/// What the provider has published on the relation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RabbitMqData {
    /// The remote application bag (rabbitmq-k8s: `hostname`, `password`).
    pub app_bag: Databag,
    /// Each remote unit with its bag (rabbitmq-server: `hostname`, `password`), in unit
    /// number order.
    pub units: Vec<(String, Databag)>,
}

/// The credentials the connect string is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub hostname: String,
    pub password: String,
}

/// Read the provider's data: the remote app bag, then every remote unit's bag. A relation
/// that is gone reads as empty data.
pub fn read(
    src: &mut (impl RelationReader + ?Sized),
    rel: &RelationId,
    remote_app: &str,
) -> Result<RabbitMqData, ToolError> {
    let app_bag = src.app_bag(rel, remote_app)?.unwrap_or_default();
    let mut unit_names = src.units(rel)?.unwrap_or_default();
    // Juju lists units in no promised order; "the first unit" means the lowest number.
    unit_names.sort_by_key(|u| unit_sort_key(u));
    let mut units = Vec::with_capacity(unit_names.len());
    for unit in unit_names {
        if let Some(bag) = src.unit_bag(rel, &unit)? {
            units.push((unit, bag));
        }
    }
    Ok(RabbitMqData { app_bag, units })
}

/// `app/7` sorts by 7; a name without a number sorts after all numbered ones.
fn unit_sort_key(unit: &str) -> (u64, String) {
    let number = unit
        .rsplit_once('/')
        .and_then(|(_, n)| n.parse::<u64>().ok())
        .unwrap_or(u64::MAX);
    (number, unit.to_string())
}

fn non_empty<'a>(bag: &'a Databag, key: &str) -> Option<&'a str> {
    bag.get(key).map(String::as_str).filter(|v| !v.is_empty())
}

/// The hostname and password to connect with: the app bag's pair when it has both, else
/// the first unit whose bag has both; `None` when neither flavour has published yet.
pub fn credentials(data: &RabbitMqData) -> Option<Credentials> {
    let pair = |bag: &Databag| {
        Some(Credentials {
            hostname: non_empty(bag, "hostname")?.to_string(),
            password: non_empty(bag, "password")?.to_string(),
        })
    };
    pair(&data.app_bag).or_else(|| data.units.iter().find_map(|(_, bag)| pair(bag)))
}

/// Every host to offer the application: each unit's `hostname`; when no unit publishes
/// one (rabbitmq-k8s), the app bag's, written as the reference's `str()` would (`None`
/// when absent).
pub fn hostnames(data: &RabbitMqData) -> Vec<String> {
    let from_units: Vec<String> = data
        .units
        .iter()
        .filter_map(|(_, bag)| non_empty(bag, "hostname").map(str::to_string))
        .collect();
    if !from_units.is_empty() {
        return from_units;
    }
    vec![
        data.app_bag
            .get("hostname")
            .cloned()
            .unwrap_or_else(|| "None".to_string()),
    ]
}

/// `amqp://<user>:<password>@<host>:5672/<vhost>`; credentials go in verbatim, as the
/// reference writes them, while the vhost is percent-encoded in full (`/` → `%2F`).
pub fn amqp_uri(username: &str, password: &str, hostname: &str) -> String {
    format!(
        "amqp://{username}:{password}@{hostname}:{PORT}/{}",
        quote_all(VHOST)
    )
}

/// Python's `urllib.parse.quote(s, safe="")`: everything but ASCII letters, digits and
/// `_.-~` becomes `%XX` (upper-case hex of the UTF-8 bytes).
pub fn quote_all(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Python's `urllib.parse.unquote`: `%XX` sequences become bytes, malformed ones stay as
/// they are, and bytes that are not UTF-8 become U+FFFD.
pub fn unquote(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |j: usize| bytes.get(j).and_then(|b| (*b as char).to_digit(16));
        match (bytes[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(hi), Some(lo)) => {
                // Two hex digits are at most 0xFF, so this cannot truncate.
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `RABBITMQ_*` variables (`INTERFACES.md` 8): the URL parts of 1.3 (no `_NAME`),
/// `RABBITMQ_VHOST` and `RABBITMQ_CONNECT_STRINGS`. A URL the decomposition rejects (a
/// password with a `/`, say) makes the data invalid.
pub fn env(data: &RabbitMqData, app: &str) -> Readiness<IndexMap<String, String>> {
    let Some(creds) = credentials(data) else {
        return Readiness::NotReady;
    };
    let uri = amqp_uri(app, &creds.password, &creds.hostname);
    let (Ok(mut env), Ok(parts)) = (url_env("RABBITMQ", &uri, false), decompose(&uri)) else {
        return Readiness::Invalid;
    };
    if parts.path.len() > 1
        && let Some(segment) = parts.path.split('/').nth(1)
    {
        env.insert("RABBITMQ_VHOST".into(), unquote(segment));
    }
    let all: Vec<String> = hostnames(data)
        .iter()
        .map(|host| amqp_uri(app, &creds.password, host))
        .collect();
    env.insert("RABBITMQ_CONNECT_STRINGS".into(), all.join(","));
    Readiness::Ready(env)
}

/// What the leader writes on `rabbitmq-relation-joined` (after that hook's reconcile).
pub fn access_request(app: &str) -> Databag {
    let mut bag = Databag::new();
    bag.insert("username".into(), app.to_string());
    bag.insert("vhost".into(), VHOST.to_string());
    bag
}

/// Whether `rabbitmq-relation-changed` or `-departed` reconciles (with migrations): the
/// provider data is usable, i.e. credentials resolve in one of the two flavours.
pub fn changed_triggers_reconcile(data: &RabbitMqData) -> bool {
    credentials(data).is_some()
}

/// What `rabbitmq-relation-changed` and `-departed` call for.
pub fn on_changed(data: &RabbitMqData) -> Reaction {
    Reaction::reconcile_if(changed_triggers_reconcile(data), true)
}

/// The handler of the `rabbitmq` row.
#[derive(Debug)]
pub struct Rabbitmq;

impl ProviderData for Rabbitmq {
    type Data = RabbitMqData;
    const READ: ReadFn<RabbitMqData> = |src, rel, remote| read(src, rel, remote);
    const ENV: EnvFn<RabbitMqData> = |data, input| env(data, input.app);
    const ON_CHANGED: OnChanged<RabbitMqData> = OnChanged::Data(on_changed);
}

impl RelationHooks for Rabbitmq {
    /// The reconcile comes first, then the request (the reference's order).
    fn on_joined(&self, _event: &RelationEvent) -> Reaction {
        Reaction::Reconcile { migrations: false }
    }

    fn joined_writes(
        &self,
        host: &mut dyn EventHost,
        event: &RelationEvent,
    ) -> Result<(), EventError> {
        let app = host.ctx().app_name.clone();
        leader_writes(host, event, || Ok(access_request(&app)))
    }

    /// The provider's units carry RabbitMQ's data: one leaving is a change.
    fn on_departed(
        &self,
        host: &mut dyn EventHost,
        event: &RelationEvent,
    ) -> Result<Reaction, EventError> {
        self.on_changed(host, event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrations::testing::{FakeReader, ReadCall, bag};

    fn ready(r: Readiness<IndexMap<String, String>>) -> IndexMap<String, String> {
        match r {
            Readiness::Ready(env) => env,
            other => panic!("not ready: {other:?}"),
        }
    }

    fn expect(vars: &IndexMap<String, String>, expected: &[(&str, &str)]) {
        let got: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn k8s_flavour_example() {
        let data = RabbitMqData {
            app_bag: bag(&[
                ("hostname", "rabbitmq-k8s-endpoints.prod.svc.cluster.local"),
                ("password", "Xy12"),
            ]),
            units: vec![(
                "rabbitmq-k8s/0".into(),
                bag(&[("egress-subnets", "10.0.0.1/32")]),
            )],
        };
        let uri = "amqp://blog:Xy12@rabbitmq-k8s-endpoints.prod.svc.cluster.local:5672/%2F";
        expect(
            &ready(env(&data, "blog")),
            &[
                ("RABBITMQ_CONNECT_STRING", uri),
                ("RABBITMQ_SCHEME", "amqp"),
                (
                    "RABBITMQ_NETLOC",
                    "blog:Xy12@rabbitmq-k8s-endpoints.prod.svc.cluster.local:5672",
                ),
                ("RABBITMQ_PATH", "/%2F"),
                ("RABBITMQ_PARAMS", ""),
                ("RABBITMQ_QUERY", ""),
                ("RABBITMQ_FRAGMENT", ""),
                ("RABBITMQ_USERNAME", "blog"),
                ("RABBITMQ_PASSWORD", "Xy12"),
                (
                    "RABBITMQ_HOSTNAME",
                    "rabbitmq-k8s-endpoints.prod.svc.cluster.local",
                ),
                ("RABBITMQ_PORT", "5672"),
                ("RABBITMQ_VHOST", "/"),
                ("RABBITMQ_CONNECT_STRINGS", uri),
            ],
        );
    }

    #[test]
    fn machine_flavour_example() {
        let data = RabbitMqData {
            app_bag: Databag::new(),
            units: vec![
                (
                    "rabbitmq-server/0".into(),
                    bag(&[("hostname", "10.0.0.1"), ("password", "pw")]),
                ),
                (
                    "rabbitmq-server/1".into(),
                    bag(&[("hostname", "10.0.0.2"), ("password", "pw")]),
                ),
            ],
        };
        let vars = ready(env(&data, "blog"));
        assert_eq!(
            vars["RABBITMQ_CONNECT_STRING"],
            "amqp://blog:pw@10.0.0.1:5672/%2F"
        );
        assert_eq!(vars["RABBITMQ_HOSTNAME"], "10.0.0.1");
        assert_eq!(
            vars["RABBITMQ_CONNECT_STRINGS"],
            "amqp://blog:pw@10.0.0.1:5672/%2F,amqp://blog:pw@10.0.0.2:5672/%2F"
        );
        assert!(!vars.contains_key("RABBITMQ_NAME"));
        assert_eq!(vars.len(), 13);
    }

    #[test]
    fn the_app_bag_wins_and_units_without_both_are_skipped() {
        let data = RabbitMqData {
            app_bag: bag(&[("hostname", "svc"), ("password", "app-pw")]),
            units: vec![(
                "rabbitmq-server/0".into(),
                bag(&[("hostname", "10.0.0.1"), ("password", "unit-pw")]),
            )],
        };
        assert_eq!(
            credentials(&data),
            Some(Credentials {
                hostname: "svc".into(),
                password: "app-pw".into()
            })
        );
        // The host list still comes from the units.
        assert_eq!(hostnames(&data), vec!["10.0.0.1"]);

        let data = RabbitMqData {
            app_bag: bag(&[("password", "app-pw")]),
            units: vec![
                ("r/0".into(), bag(&[("hostname", "h0")])),
                ("r/1".into(), bag(&[("hostname", "h1"), ("password", "pw")])),
            ],
        };
        assert_eq!(credentials(&data).unwrap().hostname, "h1");
        assert_eq!(hostnames(&data), vec!["h0", "h1"]);
    }

    #[test]
    fn not_ready_without_a_complete_pair() {
        for app_bag in [
            bag(&[("password", "pw")]),
            bag(&[("hostname", "h")]),
            Databag::new(),
        ] {
            let data = RabbitMqData {
                app_bag,
                units: vec![("r/0".into(), bag(&[("password", "pw")]))],
            };
            assert_eq!(env(&data, "blog"), Readiness::NotReady);
            assert!(!changed_triggers_reconcile(&data));
        }
        assert_eq!(env(&RabbitMqData::default(), "blog"), Readiness::NotReady);
    }

    #[test]
    fn host_list_falls_back_to_the_app_hostname() {
        let data = RabbitMqData {
            app_bag: bag(&[("hostname", "svc"), ("password", "pw")]),
            units: vec![],
        };
        assert_eq!(hostnames(&data), vec!["svc"]);
        assert_eq!(
            hostnames(&RabbitMqData::default()),
            vec!["None".to_string()]
        );
    }

    #[test]
    fn malformed_credentials_are_invalid() {
        // The netloc ends at the `/`, leaving `p` where the port should be.
        let data = RabbitMqData {
            app_bag: bag(&[("hostname", "h"), ("password", "p/ss")]),
            units: vec![],
        };
        assert_eq!(env(&data, "blog"), Readiness::Invalid);
        // Usable data still reconciles; the state check then reports the invalid data.
        assert!(changed_triggers_reconcile(&data));
        let data = RabbitMqData {
            app_bag: bag(&[("hostname", "[::1"), ("password", "pw")]),
            units: vec![],
        };
        assert_eq!(env(&data, "blog"), Readiness::Invalid);
    }

    #[test]
    fn odd_hostnames_shift_the_path_like_urlparse() {
        let data = RabbitMqData {
            app_bag: bag(&[("hostname", "h/vh%C3%A9"), ("password", "pw")]),
            units: vec![],
        };
        let vars = ready(env(&data, "blog"));
        assert_eq!(vars["RABBITMQ_NETLOC"], "blog:pw@h");
        assert_eq!(vars["RABBITMQ_PATH"], "/vh%C3%A9:5672/%2F");
        assert_eq!(vars["RABBITMQ_VHOST"], "vhé:5672");
        assert!(!vars.contains_key("RABBITMQ_PORT"));
    }

    #[test]
    fn quoting() {
        assert_eq!(quote_all("/"), "%2F");
        assert_eq!(quote_all("a b/é~_.-"), "a%20b%2F%C3%A9~_.-");
        assert_eq!(unquote("%2F"), "/");
        assert_eq!(unquote("%2f%"), "/%");
        assert_eq!(unquote("%zz%4"), "%zz%4");
        assert_eq!(unquote("%FF"), "\u{FFFD}");
    }

    #[test]
    fn request_and_unit_order() {
        assert_eq!(
            access_request("blog"),
            bag(&[("username", "blog"), ("vhost", "/")])
        );
        let mut units = vec!["r/10", "r/2", "r/0", "odd"];
        units.sort_by_key(|u| unit_sort_key(u));
        assert_eq!(units, vec!["r/0", "r/2", "r/10", "odd"]);
    }

    #[test]
    fn read_takes_the_app_bag_and_unit_bags_in_number_order() {
        let rel = RelationId::new("rabbitmq", 4);
        // Listed as Juju may list them: not in number order.
        let mut src = FakeReader::new()
            .app_bag(&rel, "rmq", Databag::new())
            .unit(
                &rel,
                "rmq/10",
                bag(&[("hostname", "h10"), ("password", "pw")]),
            )
            .unit(
                &rel,
                "rmq/2",
                bag(&[("hostname", "h2"), ("password", "pw")]),
            );
        let data = read(&mut src, &rel, "rmq").unwrap();
        assert!(data.app_bag.is_empty());
        let names: Vec<&str> = data.units.iter().map(|(u, _)| u.as_str()).collect();
        assert_eq!(names, vec!["rmq/2", "rmq/10"]);
        assert_eq!(
            src.calls,
            vec![
                ReadCall::app_bag("rabbitmq:4", "rmq"),
                ReadCall::units("rabbitmq:4"),
                ReadCall::unit_bag("rabbitmq:4", "rmq/2"),
                ReadCall::unit_bag("rabbitmq:4", "rmq/10"),
            ]
        );
        assert_eq!(
            ready(env(&data, "blog"))["RABBITMQ_CONNECT_STRINGS"],
            "amqp://blog:pw@h2:5672/%2F,amqp://blog:pw@h10:5672/%2F"
        );

        let gone = read(&mut src, &RelationId::new("rabbitmq", 9), "rmq").unwrap();
        assert_eq!(gone, RabbitMqData::default());
    }
}
