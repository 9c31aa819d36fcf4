//! One read per bag per hook: what a read-only hook tool answered, kept for the rest of
//! the hook, so that no part of the charm asks the controller the same question twice.
//!
//! Within a hook, Juju's answers change only through the hook's own writes: remote
//! relation data, config, leadership and secret revisions are a snapshot for the hook.
//! So an answer is reused for the same tool and arguments until the charm writes
//! something it depends on: a `relation-set` on a relation drops that relation's
//! `relation-get` answers (Juju then answers with the buffered write), a secret write
//! drops the secret answers, a port change drops `opened-ports`. A `secret-get
//! --refresh` that moves the unit to a new revision drops the other reads of that
//! secret.

use std::collections::HashMap;

use serde_json::Value;

/// A tool's answer: its stdout, or its exit code and stderr.
pub type Answer = Result<Vec<u8>, (i32, String)>;

/// Tools whose answers are kept.
const READS: [&str; 10] = [
    "relation-model-get",
    "config-get",
    "relation-ids",
    "relation-list",
    "relation-get",
    "secret-get",
    "secret-info-get",
    "network-get",
    "opened-ports",
    "goal-state",
];

/// Whether a call of `tool` costs a round trip to the controller; the unit agent
/// answers the others itself (`relation-ids`, `relation-list`, `opened-ports`,
/// `juju-log`, `action-get`) or buffers them until the hook ends (`relation-set`, port
/// and secret writes, action results).
pub fn is_round_trip(tool: &str) -> bool {
    !matches!(
        tool,
        "relation-ids"
            | "relation-list"
            | "opened-ports"
            | "juju-log"
            | "action-get"
            | "action-set"
            | "action-fail"
            | "relation-set"
            | "open-port"
            | "close-port"
            | "secret-add"
            | "secret-set"
            | "secret-remove"
            | "secret-grant"
            | "secret-revoke"
    )
}

/// The answers of this hook's reads.
#[derive(Debug, Clone, Default)]
pub struct ReadCache {
    answers: HashMap<(String, Vec<String>), Answer>,
    /// Our application and unit, whose bags a `relation-set` changes; unknown: a write
    /// on a relation drops every answer of that relation.
    local: Option<(String, String)>,
}

/// A bag's JSON with `written` applied (an empty value deletes the key); `None` when the
/// bag is not a JSON object.
fn with_write(bag: &[u8], written: &serde_json::Map<String, Value>) -> Option<Vec<u8>> {
    let mut bag: serde_json::Map<String, Value> = serde_json::from_slice(bag).ok()?;
    for (k, v) in written {
        if v.as_str() == Some("") {
            bag.remove(k);
        } else {
            bag.insert(k.clone(), v.clone());
        }
    }
    serde_json::to_vec(&bag).ok()
}

/// The value after `flag` in `args`.
fn flag_value<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

impl ReadCache {
    /// The bags of `app` and `unit` are ours: only they change with a `relation-set`.
    pub fn set_local(&mut self, app: &str, unit: &str) {
        self.local = Some((app.to_string(), unit.to_string()));
    }

    /// Whether a `relation-get` with `args` may read a bag a `relation-set` with
    /// `set_args` changed.
    fn stale_after(&self, args: &[String], set_args: &[String]) -> bool {
        if flag_value(args, "-r") != flag_value(set_args, "-r") {
            return false;
        }
        let Some((app, unit)) = &self.local else {
            return true;
        };
        let ours = if set_args.iter().any(|a| a == "--app") {
            app
        } else {
            unit
        };
        args.last() == Some(ours)
    }

    /// The kept answer of `tool` with `args`, if any.
    pub fn answer(&self, tool: &str, args: &[String]) -> Option<Answer> {
        self.answers
            .get(&(tool.to_string(), args.to_vec()))
            .cloned()
    }

    /// `tool` ran with `args` (and `stdin`) and gave `answer`: keep it if it is a read,
    /// update or drop what a write makes stale.
    pub fn record(&mut self, tool: &str, args: &[String], stdin: Option<&[u8]>, answer: &Answer) {
        match tool {
            "relation-set" => {
                let written: Option<serde_json::Map<String, Value>> =
                    stdin.and_then(|body| serde_json::from_slice(body).ok());
                let stale: Vec<_> = self
                    .answers
                    .keys()
                    .filter(|(t, a)| t == "relation-get" && self.stale_after(a, args))
                    .cloned()
                    .collect();
                for key in stale {
                    // Like Juju, answer later reads of the bag with the write applied.
                    let merged = match (self.answers.remove(&key), &written) {
                        (Some(Ok(bytes)), Some(written)) => with_write(&bytes, written),
                        _ => None,
                    };
                    if let Some(bytes) = merged {
                        self.answers.insert(key, Ok(bytes));
                    }
                }
            }
            "secret-add" | "secret-set" | "secret-remove" | "secret-grant" | "secret-revoke" => {
                self.answers
                    .retain(|(t, _), _| t != "secret-get" && t != "secret-info-get");
            }
            "open-port" | "close-port" => {
                self.answers.retain(|(t, _), _| t != "opened-ports");
            }
            "secret-get" if args.iter().any(|a| a == "--refresh") => {
                if let Some(id) = args.iter().find(|a| a.starts_with("secret:")) {
                    self.answers
                        .retain(|(t, a), _| t != "secret-get" || !a.contains(id));
                }
            }
            _ => {}
        }
        if READS.contains(&tool) {
            self.answers
                .insert((tool.to_string(), args.to_vec()), answer.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn reads_are_kept_until_a_write_they_depend_on() {
        let mut cache = ReadCache::default();
        let ours = a(&["--format=json", "-r", "ingress:4", "--app", "-", "app"]);
        let other = a(&["--format=json", "-r", "db:3", "--app", "-", "pg"]);
        cache.record("relation-get", &ours, None, &Ok(b"{}".to_vec()));
        cache.record("relation-get", &other, None, &Err((2, "not found".into())));
        assert_eq!(
            cache.answer("relation-get", &ours),
            Some(Ok(b"{}".to_vec()))
        );
        assert_eq!(
            cache.answer("relation-get", &other),
            Some(Err((2, "not found".into())))
        );
        cache.record(
            "relation-set",
            &a(&["-r", "ingress:4", "--app", "--file", "-"]),
            None,
            &Ok(vec![]),
        );
        assert_eq!(cache.answer("relation-get", &ours), None);
        assert!(cache.answer("relation-get", &other).is_some());

        // Knowing whose bags are ours, a write keeps the remote bags' answers.
        cache.set_local("app", "app/0");
        let remote = a(&["--format=json", "-r", "ingress:4", "--app", "-", "traefik"]);
        let unit = a(&["--format=json", "-r", "ingress:4", "-", "app/0"]);
        for args in [&ours, &remote, &unit] {
            cache.record("relation-get", args, None, &Ok(b"{}".to_vec()));
        }
        let unit_set = a(&["-r", "ingress:4", "--file", "-"]);
        cache.record("relation-set", &unit_set, None, &Ok(vec![]));
        assert!(cache.answer("relation-get", &ours).is_some());
        assert!(cache.answer("relation-get", &remote).is_some());
        assert_eq!(cache.answer("relation-get", &unit), None);
        let app_set = a(&["-r", "ingress:4", "--app", "--file", "-"]);
        cache.record("relation-set", &app_set, None, &Ok(vec![]));
        assert_eq!(cache.answer("relation-get", &ours), None);
        assert!(cache.answer("relation-get", &remote).is_some());

        // A write with its data: later reads see the bag with it, as Juju answers them.
        cache.record(
            "relation-get",
            &unit,
            None,
            &Ok(br#"{"b":"x","c":"y"}"#.to_vec()),
        );
        let body = br#"{"a":"1","b":""}"#;
        cache.record("relation-set", &unit_set, Some(body), &Ok(vec![]));
        let bag: serde_json::Value =
            serde_json::from_slice(&cache.answer("relation-get", &unit).unwrap().unwrap()).unwrap();
        assert_eq!(bag, serde_json::json!({"a": "1", "c": "y"}));

        let secret = a(&["--format=json", "secret:abc", "--refresh"]);
        cache.record("secret-get", &secret, None, &Ok(b"{}".to_vec()));
        assert!(cache.answer("secret-get", &secret).is_some());
        cache.record(
            "secret-set",
            &a(&["secret:abc", "value#file=/x"]),
            None,
            &Ok(vec![]),
        );
        assert_eq!(cache.answer("secret-get", &secret), None);

        cache.record("status-set", &a(&["active"]), None, &Ok(vec![]));
        assert_eq!(
            cache.answer("status-set", &a(&["active"])),
            None,
            "writes are not kept"
        );
    }

    #[test]
    fn a_refresh_drops_the_other_reads_of_that_secret() {
        let mut cache = ReadCache::default();
        let pinned = a(&["--format=json", "secret:abc"]);
        cache.record("secret-get", &pinned, None, &Ok(b"{\"v\":\"1\"}".to_vec()));
        let refresh = a(&["--format=json", "secret:abc", "--refresh"]);
        cache.record("secret-get", &refresh, None, &Ok(b"{\"v\":\"2\"}".to_vec()));
        assert_eq!(cache.answer("secret-get", &pinned), None);
        assert!(cache.answer("secret-get", &refresh).is_some());
    }

    #[test]
    fn what_the_agent_answers_itself_is_no_round_trip() {
        for tool in [
            "relation-ids",
            "relation-list",
            "opened-ports",
            "juju-log",
            "relation-set",
        ] {
            assert!(!is_round_trip(tool), "{tool}");
        }
        for tool in [
            "config-get",
            "is-leader",
            "relation-get",
            "secret-get",
            "status-set",
            "network-get",
        ] {
            assert!(is_round_trip(tool), "{tool}");
        }
    }
}
