//! The `smtp` requirer (`INTERFACES.md` 10): validating the provider's application bag
//! (with the password it may keep in a Juju secret) and the `SMTP_*` variables, which
//! leave out values that are absent or exactly `none` (`DJANGO.md` 17 item 4).

use indexmap::IndexMap;
use serde_json::Value;

use crate::integrations::kind::{EnvFn, OnChanged, ProviderData, Reaction, ReadFn, RelationHooks};
use crate::integrations::{Readiness, SecretLookup};
use crate::juju::context::RelationId;
use crate::juju::relations::RelationReader;
use crate::juju::tools::{Databag, SecretRead, ToolError};

pub const ENDPOINT: &str = "smtp";
pub const INTERFACE: &str = "smtp";

const AUTH_TYPES: [&str; 3] = ["none", "not_provided", "plain"];
const TRANSPORT_SECURITIES: [&str; 3] = ["none", "starttls", "tls"];

/// What the provider has published.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SmtpData {
    /// The remote application bag.
    pub app_bag: Databag,
    /// The `password_id` secret; only read when the bag has no plain `password`.
    pub password_secret: SecretLookup,
}

/// Validated provider data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u32,
    pub user: Option<String>,
    pub password: Option<String>,
    pub auth_type: String,
    pub transport_security: String,
    pub domain: Option<String>,
    pub skip_ssl_verify: bool,
    pub smtp_sender: Option<String>,
    pub recipients: Vec<String>,
}

/// Read the remote app bag and, when it has no plain `password` but a `password_id`, that
/// secret (`secret-get <id> --refresh`). A relation that is gone reads as empty data.
pub fn read(
    src: &mut (impl RelationReader + ?Sized),
    rel: &RelationId,
    remote_app: &str,
) -> Result<SmtpData, ToolError> {
    let app_bag = src.app_bag(rel, remote_app)?.unwrap_or_default();
    let secret_id = match (app_bag.get("password"), app_bag.get("password_id")) {
        (None, Some(id)) if !id.is_empty() => Some(id.clone()),
        _ => None,
    };
    let password_secret = match secret_id {
        None => SecretLookup::Absent,
        Some(id) => match src.secret(&id, None, SecretRead::Refresh)? {
            Some(content) => SecretLookup::Found(content),
            None => SecretLookup::Unreadable,
        },
    };
    Ok(SmtpData {
        app_bag,
        password_secret,
    })
}

/// A port as pydantic reads an `int` from a string: surrounding whitespace and a `+`
/// allowed, then decimal digits; it must lie in 1–65536 (the provider library's bounds).
fn parse_port(raw: &str) -> Option<u32> {
    let digits = raw.trim();
    let digits = digits.strip_prefix('+').unwrap_or(digits);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let trimmed = digits.trim_start_matches('0');
    if trimmed.len() > 5 {
        return None;
    }
    let port: u32 = trimmed.parse().unwrap_or(0);
    (1..=65536).contains(&port).then_some(port)
}

/// A boolean as pydantic reads one from a string.
fn parse_bool(raw: &str) -> Option<bool> {
    match raw.to_ascii_lowercase().as_str() {
        "1" | "on" | "t" | "true" | "y" | "yes" => Some(true),
        "0" | "off" | "f" | "false" | "n" | "no" => Some(false),
        _ => None,
    }
}

/// Domains that can never receive mail, which the reference's e-mail validator refuses.
const SPECIAL_USE_DOMAINS: [&str; 6] = ["arpa", "invalid", "local", "localhost", "onion", "test"];

/// An e-mail address as the reference's validator accepts it without a DNS lookup: a
/// dot-atom local part (ASCII `atext` or any non-ASCII character, at most 64 bytes) and a
/// domain of at least two labels (letters, digits and inner hyphens, at most 63 bytes
/// each, a top-level label that is not all digits), 254 bytes in all; no quoted local
/// parts, no address literals, no special-use domains.
pub fn is_valid_email(address: &str) -> bool {
    let Some((local, domain)) = address.split_once('@') else {
        return false;
    };
    let atext =
        |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii();
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && local
            .split('.')
            .all(|part| !part.is_empty() && part.chars().all(atext));
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |label: &&str| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c == '-' || c.is_alphanumeric())
    };
    let lower = domain.to_lowercase();
    let special = SPECIAL_USE_DOMAINS
        .iter()
        .any(|d| lower == *d || lower.ends_with(&format!(".{d}")));
    local_ok
        && address.len() <= 254
        && domain.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(label_ok)
        && labels
            .last()
            .is_some_and(|tld| !tld.chars().all(|c| c.is_ascii_digit()))
        && !special
}

/// `recipients`: a JSON list of strings, else a comma-separated list (or one address).
fn parse_recipients(raw: &str) -> Option<Vec<String>> {
    match serde_json::from_str::<Value>(raw) {
        Ok(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Some(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        ),
    }
}

/// Validate the provider's data (`INTERFACES.md` 10 "Ready"): not ready when the bag is
/// empty, invalid when it breaks any rule or its password secret cannot be read.
pub fn settings(data: &SmtpData) -> Readiness<SmtpSettings> {
    let bag = &data.app_bag;
    if bag.is_empty() {
        return Readiness::NotReady;
    }
    let get = |key: &str| bag.get(key).cloned();
    let password = match (get("password"), &data.password_secret) {
        (Some(plain), _) => Some(plain),
        (None, SecretLookup::Unreadable) => return Readiness::Invalid,
        (None, SecretLookup::Found(content)) => content.get("password").cloned(),
        (None, SecretLookup::Absent) => None,
    };
    let one_of = |key: &str, allowed: &[&str]| get(key).filter(|v| allowed.contains(&v.as_str()));
    let (
        Some(host),
        Some(port),
        Some(auth_type),
        Some(transport_security),
        Some(skip_ssl_verify),
        Some(recipients),
    ) = (
        get("host").filter(|h| !h.is_empty()),
        bag.get("port").and_then(|p| parse_port(p)),
        one_of("auth_type", &AUTH_TYPES),
        one_of("transport_security", &TRANSPORT_SECURITIES),
        match bag.get("skip_ssl_verify") {
            None => Some(false),
            Some(v) => parse_bool(v),
        },
        match bag.get("recipients") {
            None => Some(Vec::new()),
            Some(v) => parse_recipients(v),
        },
    )
    else {
        return Readiness::Invalid;
    };
    let smtp_sender = get("smtp_sender");
    if smtp_sender.as_deref().is_some_and(|s| !is_valid_email(s))
        || !recipients.iter().all(|r| is_valid_email(r))
    {
        return Readiness::Invalid;
    }
    Readiness::Ready(SmtpSettings {
        host,
        port,
        user: get("user"),
        password,
        auth_type,
        transport_security,
        domain: get("domain"),
        skip_ssl_verify,
        smtp_sender,
        recipients,
    })
}

/// The `SMTP_*` variables, in the spec's order; a value that is absent or exactly `none`
/// is left out (so `auth_type: none` gives no `SMTP_AUTH_TYPE`).
pub fn env(data: &SmtpData) -> Readiness<IndexMap<String, String>> {
    let s = match settings(data) {
        Readiness::Ready(s) => s,
        Readiness::NotReady => return Readiness::NotReady,
        Readiness::Invalid => return Readiness::Invalid,
    };
    let skip = if s.skip_ssl_verify { "True" } else { "False" };
    let pairs = [
        ("SMTP_HOST", Some(s.host)),
        ("SMTP_PORT", Some(s.port.to_string())),
        ("SMTP_USER", s.user),
        ("SMTP_PASSWORD", s.password),
        ("SMTP_AUTH_TYPE", Some(s.auth_type)),
        ("SMTP_TRANSPORT_SECURITY", Some(s.transport_security)),
        ("SMTP_DOMAIN", s.domain),
        ("SMTP_SKIP_SSL_VERIFY", Some(skip.to_string())),
    ];
    Readiness::Ready(
        pairs
            .into_iter()
            .filter_map(|(k, v)| v.filter(|v| v != "none").map(|v| (k.to_string(), v)))
            .collect(),
    )
}

/// What `smtp-relation-changed` calls for: nothing for an empty provider bag, a
/// reconcile (no migrations) for valid data, and for invalid data only the state check,
/// which sets Blocked `Invalid smtp relation data.`.
pub fn on_changed(data: &SmtpData) -> Reaction {
    match settings(data) {
        Readiness::NotReady => Reaction::Nothing,
        Readiness::Ready(_) => Reaction::Reconcile { migrations: false },
        Readiness::Invalid => Reaction::CheckState,
    }
}

/// The unique part of a secret URI: `secret:<xid>` and `secret://<model-uuid>/<xid>` name
/// the same secret.
fn secret_xid(uri: &str) -> &str {
    let rest = uri.strip_prefix("secret:").unwrap_or(uri);
    rest.rsplit('/').next().unwrap_or(rest)
}

/// Whether a `secret-changed` for `secret_id` earns the second reconcile: it is the
/// provider's `password_id` secret and the SMTP data is valid.
pub fn secret_changed_needs_second_reconcile(data: &SmtpData, secret_id: &str) -> bool {
    let is_ours = data
        .app_bag
        .get("password_id")
        .is_some_and(|id| !id.is_empty() && secret_xid(id) == secret_xid(secret_id));
    is_ours && settings(data).is_ready()
}

/// The handler of the `smtp` row.
#[derive(Debug)]
pub struct Smtp;

impl ProviderData for Smtp {
    type Data = SmtpData;
    const READ: ReadFn<SmtpData> = |src, rel, remote| read(src, rel, remote);
    const ENV: EnvFn<SmtpData> = |data, _| env(data);
    const ON_CHANGED: OnChanged<SmtpData> = OnChanged::Data(on_changed);
}

impl RelationHooks for Smtp {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrations::testing::{FakeReader, ReadCall, bag};

    fn plain(pairs: &[(&str, &str)]) -> SmtpData {
        SmtpData {
            app_bag: bag(pairs),
            password_secret: SecretLookup::Absent,
        }
    }

    fn expect(data: &SmtpData, expected: &[(&str, &str)]) {
        let Readiness::Ready(vars) = env(data) else {
            panic!("not ready: {:?}", env(data));
        };
        let got: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn example_without_auth() {
        expect(
            &plain(&[
                ("auth_type", "none"),
                ("domain", "example.com"),
                ("host", "test-ip"),
                ("port", "1025"),
                ("skip_ssl_verify", "False"),
                ("transport_security", "none"),
            ]),
            &[
                ("SMTP_HOST", "test-ip"),
                ("SMTP_PORT", "1025"),
                ("SMTP_DOMAIN", "example.com"),
                ("SMTP_SKIP_SSL_VERIFY", "False"),
            ],
        );
    }

    #[test]
    fn example_with_a_password_secret() {
        let data = SmtpData {
            app_bag: bag(&[
                ("host", "mail.example.org"),
                ("port", "465"),
                ("user", "no"),
                ("password_id", "secret:cpw1"),
                ("auth_type", "plain"),
                ("transport_security", "tls"),
                ("domain", "one.example.org"),
                ("skip_ssl_verify", "true"),
            ]),
            password_secret: SecretLookup::Found(bag(&[("password", "hunter2")])),
        };
        expect(
            &data,
            &[
                ("SMTP_HOST", "mail.example.org"),
                ("SMTP_PORT", "465"),
                ("SMTP_USER", "no"),
                ("SMTP_PASSWORD", "hunter2"),
                ("SMTP_AUTH_TYPE", "plain"),
                ("SMTP_TRANSPORT_SECURITY", "tls"),
                ("SMTP_DOMAIN", "one.example.org"),
                ("SMTP_SKIP_SSL_VERIFY", "True"),
            ],
        );
        assert!(secret_changed_needs_second_reconcile(&data, "secret:cpw1"));
        assert!(secret_changed_needs_second_reconcile(
            &data,
            "secret://f0a5c1de-0000-4000-8000-000000000000/cpw1"
        ));
        assert!(!secret_changed_needs_second_reconcile(
            &data,
            "secret:other"
        ));
        let mut unreadable = data.clone();
        unreadable.password_secret = SecretLookup::Unreadable;
        assert_eq!(env(&unreadable), Readiness::Invalid);
        assert!(!secret_changed_needs_second_reconcile(
            &unreadable,
            "secret:cpw1"
        ));
    }

    #[test]
    fn only_exactly_none_is_dropped() {
        expect(
            &plain(&[
                ("host", "smtp.example.com"),
                ("port", "25"),
                ("user", "no"),
                ("password", "pw"),
                ("auth_type", "plain"),
                ("transport_security", "tls"),
                ("domain", "one"),
                ("skip_ssl_verify", "True"),
            ]),
            &[
                ("SMTP_HOST", "smtp.example.com"),
                ("SMTP_PORT", "25"),
                ("SMTP_USER", "no"),
                ("SMTP_PASSWORD", "pw"),
                ("SMTP_AUTH_TYPE", "plain"),
                ("SMTP_TRANSPORT_SECURITY", "tls"),
                ("SMTP_DOMAIN", "one"),
                ("SMTP_SKIP_SSL_VERIFY", "True"),
            ],
        );
        // `none` as a user or domain is dropped like the enums; `None` is a value.
        let Readiness::Ready(vars) = env(&plain(&[
            ("host", "h"),
            ("port", "0025"),
            ("user", "none"),
            ("domain", "None"),
            ("auth_type", "not_provided"),
            ("transport_security", "starttls"),
        ])) else {
            panic!()
        };
        assert_eq!(vars["SMTP_PORT"], "25");
        assert!(!vars.contains_key("SMTP_USER"));
        assert_eq!(vars["SMTP_DOMAIN"], "None");
        assert_eq!(vars["SMTP_AUTH_TYPE"], "not_provided");
        assert_eq!(vars["SMTP_SKIP_SSL_VERIFY"], "False");
    }

    #[test]
    fn plain_password_wins_over_the_secret() {
        let data = SmtpData {
            app_bag: bag(&[
                ("host", "h"),
                ("port", "25"),
                ("password", "plain"),
                ("password_id", "secret:x"),
                ("auth_type", "plain"),
                ("transport_security", "tls"),
            ]),
            password_secret: SecretLookup::Absent,
        };
        let Readiness::Ready(vars) = env(&data) else {
            panic!()
        };
        assert_eq!(vars["SMTP_PASSWORD"], "plain");
        // A secret without a `password` key leaves the password unset.
        let data = SmtpData {
            app_bag: bag(&[
                ("host", "h"),
                ("port", "25"),
                ("password_id", "secret:x"),
                ("auth_type", "plain"),
                ("transport_security", "tls"),
            ]),
            password_secret: SecretLookup::Found(bag(&[("other", "v")])),
        };
        let Readiness::Ready(vars) = env(&data) else {
            panic!()
        };
        assert!(!vars.contains_key("SMTP_PASSWORD"));
    }

    fn valid() -> Vec<(&'static str, &'static str)> {
        vec![
            ("host", "h"),
            ("port", "25"),
            ("auth_type", "plain"),
            ("transport_security", "tls"),
        ]
    }

    fn with(key: &'static str, value: &'static str) -> SmtpData {
        let mut pairs = valid();
        pairs.retain(|(k, _)| *k != key);
        pairs.push((key, value));
        plain(&pairs)
    }

    fn without(key: &str) -> SmtpData {
        let mut pairs = valid();
        pairs.retain(|(k, _)| *k != key);
        plain(&pairs)
    }

    #[test]
    fn each_rule_makes_the_data_invalid() {
        assert!(env(&plain(&valid())).is_ready());
        assert_eq!(env(&plain(&[("host", "h")])), Readiness::Invalid);
        for key in ["host", "port", "auth_type", "transport_security"] {
            assert_eq!(env(&without(key)), Readiness::Invalid, "without {key}");
        }
        for (key, value) in [
            ("host", ""),
            ("port", "0"),
            ("port", "65537"),
            ("port", "smtp"),
            ("port", "25.5"),
            ("port", "-25"),
            ("port", "99999999999999999999"),
            ("auth_type", "login"),
            ("auth_type", "PLAIN"),
            ("transport_security", "ssl"),
            ("skip_ssl_verify", "maybe"),
            ("smtp_sender", "not-an-address"),
            ("smtp_sender", "a@localhost"),
            ("recipients", "a@example.com, broken"),
            ("recipients", r#"["a@example.com", 3]"#),
            ("recipients", r#"["nope"]"#),
        ] {
            assert_eq!(env(&with(key, value)), Readiness::Invalid, "{key}={value}");
        }
        for (key, value) in [
            ("port", "65536"),
            ("port", " 587 "),
            ("port", "+587"),
            ("skip_ssl_verify", "yes"),
            ("skip_ssl_verify", "OFF"),
            ("smtp_sender", "noreply@example.com"),
            ("recipients", r#"["a@example.com", "b@example.org"]"#),
            ("recipients", "a@example.com, b@example.org"),
            ("recipients", "a@example.com"),
        ] {
            assert!(env(&with(key, value)).is_ready(), "{key}={value}");
        }
        // Neither the sender nor the recipients are exported.
        let Readiness::Ready(vars) = env(&with("smtp_sender", "noreply@example.com")) else {
            panic!()
        };
        let names: Vec<&str> = vars.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            vec![
                "SMTP_HOST",
                "SMTP_PORT",
                "SMTP_AUTH_TYPE",
                "SMTP_TRANSPORT_SECURITY",
                "SMTP_SKIP_SSL_VERIFY"
            ]
        );
    }

    #[test]
    fn empty_bag_is_not_ready() {
        assert_eq!(env(&SmtpData::default()), Readiness::NotReady);
        assert_eq!(on_changed(&SmtpData::default()), Reaction::Nothing);
        assert_eq!(
            on_changed(&plain(&valid())),
            Reaction::Reconcile { migrations: false }
        );
        assert_eq!(on_changed(&plain(&[("host", "h")])), Reaction::CheckState);
    }

    #[test]
    fn email_addresses() {
        for good in [
            "a@example.com",
            "first.last+tag@sub.example.co.uk",
            "o'brien@example.ie",
            "用户@example.com",
            "x@xn--bcher-kva.example",
        ] {
            assert!(is_valid_email(good), "{good}");
        }
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@b",
            "a@@example.com",
            "a@b@example.com",
            ".a@example.com",
            "a..b@example.com",
            "a b@example.com",
            "\"q\"@example.com",
            "a@-example.com",
            "a@example-.com",
            "a@example..com",
            "a@example.com.",
            "a@[10.0.0.1]",
            "a@10.0.0.1",
            "a@mail.test",
            "a@onion",
        ] {
            assert!(!is_valid_email(bad), "{bad}");
        }
        assert!(!is_valid_email(&format!("{}@example.com", "a".repeat(65))));
    }

    /// Relation `smtp:6` with the provider's `app_data`; of the secrets, only
    /// `secret:cpw1` is readable, at its latest revision.
    fn reader(app_data: &[(&str, &str)]) -> FakeReader {
        FakeReader::new()
            .app_bag(
                &RelationId::new("smtp", 6),
                "smtp-integrator",
                bag(app_data),
            )
            .secret("secret:cpw1", bag(&[("password", "hunter2")]))
    }

    #[test]
    fn read_refreshes_the_password_secret_only_when_needed() {
        let rel = RelationId::new("smtp", 6);
        let mut src = reader(&[
            ("host", "mail.example.org"),
            ("port", "465"),
            ("password_id", "secret:cpw1"),
            ("auth_type", "plain"),
            ("transport_security", "tls"),
        ]);
        let data = read(&mut src, &rel, "smtp-integrator").unwrap();
        assert_eq!(
            src.calls,
            vec![
                ReadCall::app_bag("smtp:6", "smtp-integrator"),
                ReadCall::secret("secret:cpw1", None, SecretRead::Refresh),
            ]
        );
        assert_eq!(
            data.password_secret,
            SecretLookup::Found(bag(&[("password", "hunter2")]))
        );

        let mut src = reader(&[
            ("host", "h"),
            ("port", "25"),
            ("password", "pw"),
            ("password_id", "secret:cpw1"),
            ("auth_type", "plain"),
            ("transport_security", "tls"),
        ]);
        let data = read(&mut src, &rel, "smtp-integrator").unwrap();
        assert_eq!(src.calls.len(), 1);
        assert_eq!(data.password_secret, SecretLookup::Absent);

        let mut src = reader(&[
            ("host", "h"),
            ("port", "25"),
            ("password_id", "secret:hidden"),
            ("auth_type", "plain"),
            ("transport_security", "tls"),
        ]);
        let data = read(&mut src, &rel, "smtp-integrator").unwrap();
        assert_eq!(data.password_secret, SecretLookup::Unreadable);
        assert_eq!(on_changed(&data), Reaction::CheckState);

        let gone = read(&mut src, &RelationId::new("smtp", 9), "smtp-integrator").unwrap();
        assert_eq!(gone, SmtpData::default());
    }
}
