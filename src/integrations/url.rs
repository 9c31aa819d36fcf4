//! URL decomposition into `<PREFIX>_*` variables (`INTERFACES.md` 1.3), following the
//! reference's Python `urllib.parse.urlparse` rules, plus our multi-host rule; and URL
//! normalisation where the reference validated with pydantic (1.4).

use indexmap::IndexMap;

/// The URL cannot be used: the integration is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid URL: {0}")]
pub struct UrlError(pub String);

/// The parts of a URL as `urlparse` gives them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UrlParts {
    pub scheme: String,
    pub netloc: String,
    pub path: String,
    pub params: String,
    pub query: String,
    pub fragment: String,
    pub username: Option<String>,
    pub password: Option<String>,
    pub hostname: Option<String>,
    pub port: Option<u16>,
}

/// Schemes whose last path segment may carry `;params`.
const USES_PARAMS: [&str; 15] = [
    "", "ftp", "hdl", "prospero", "http", "imap", "https", "shttp", "rtsp", "rtspu", "sip", "sips",
    "mms", "sftp", "tel",
];

/// Split a URL (`INTERFACES.md` 1.3 rules 1–8).
pub fn decompose(url: &str) -> Result<UrlParts, UrlError> {
    let cleaned: String = url
        .chars()
        .filter(|c| !matches!(c, '\t' | '\r' | '\n'))
        .collect();
    let mut rest: &str = cleaned.trim_start_matches(|c: char| (c as u32) <= 0x20);
    let mut parts = UrlParts::default();

    if let Some(i) = rest.find(':')
        && i > 0
        && rest.as_bytes()[0].is_ascii_alphabetic()
        && rest[..i]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    {
        parts.scheme = rest[..i].to_ascii_lowercase();
        rest = &rest[i + 1..];
    }
    if let Some(after) = rest.strip_prefix("//") {
        let end = after.find(['/', '?', '#']).unwrap_or(after.len());
        parts.netloc = after[..end].to_string();
        rest = &after[end..];
        let (open, close) = (parts.netloc.contains('['), parts.netloc.contains(']'));
        if open != close {
            return Err(UrlError("Invalid IPv6 URL".into()));
        }
        // As Python does: the first bracketed part anywhere in the netloc must be an
        // IPv6 address (or an IPvFuture literal).
        if open {
            let bracketed = parts
                .netloc
                .split_once('[')
                .map(|(_, after)| after.split(']').next().unwrap_or(""))
                .unwrap_or("");
            if !valid_bracketed_host(bracketed) {
                return Err(UrlError(format!(
                    "{bracketed:?} is not a valid IPv6 address"
                )));
            }
        }
    }
    let mut rest = rest.to_string();
    if let Some(i) = rest.find('#') {
        parts.fragment = rest[i + 1..].to_string();
        rest.truncate(i);
    }
    if let Some(i) = rest.find('?') {
        parts.query = rest[i + 1..].to_string();
        rest.truncate(i);
    }
    if USES_PARAMS.contains(&parts.scheme.as_str()) && rest.contains(';') {
        let from = rest.rfind('/').unwrap_or(0);
        if let Some(i) = rest[from..].find(';').map(|i| i + from) {
            parts.params = rest[i + 1..].to_string();
            rest.truncate(i);
        }
    }
    parts.path = rest;

    let (userinfo, hostinfo) = match parts.netloc.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, parts.netloc.as_str()),
    };
    if let Some(userinfo) = userinfo {
        match userinfo.split_once(':') {
            Some((u, p)) => {
                parts.username = Some(u.to_string());
                parts.password = Some(p.to_string());
            }
            None => parts.username = Some(userinfo.to_string()),
        }
    }
    // Our rule: of a multi-host list only the first host names the host and port.
    let first_host = hostinfo.split(',').next().unwrap_or("");
    let (hostname, port) = match first_host.split_once('[') {
        Some((_, bracketed)) => {
            let (host, after) = bracketed.split_once(']').unwrap_or((bracketed, ""));
            let port = after.split_once(':').map(|(_, p)| p).unwrap_or("");
            (host, port)
        }
        None => first_host.split_once(':').unwrap_or((first_host, "")),
    };
    if !hostname.is_empty() {
        // Lower-cased, except an IPv6 zone id, which Python keeps as it is.
        let (addr, zone) = match hostname.split_once('%') {
            Some((a, z)) => (a, Some(z)),
            None => (hostname, None),
        };
        parts.hostname = Some(match zone {
            Some(z) => format!("{}%{z}", addr.to_lowercase()),
            None => addr.to_lowercase(),
        });
    }
    if !port.is_empty() {
        if !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(UrlError(format!(
                "port {port:?} could not be cast to an integer"
            )));
        }
        parts.port = Some(
            port.parse::<u16>()
                .map_err(|_| UrlError(format!("port {port} out of range 0-65535")))?,
        );
    }
    Ok(parts)
}

/// Python accepts an IPv6 address (with an optional non-empty zone id), or an IPvFuture
/// literal (`v<hex>.<anything>`, lower-case `v`), between brackets.
fn valid_bracketed_host(host: &str) -> bool {
    if let Some(future) = host.strip_prefix('v') {
        return future.split_once('.').is_some_and(|(ver, rest)| {
            !ver.is_empty() && ver.bytes().all(|b| b.is_ascii_hexdigit()) && !rest.is_empty()
        });
    }
    let (addr, zone) = match host.split_once('%') {
        Some((a, z)) => (a, Some(z)),
        None => (host, None),
    };
    zone.is_none_or(|z| !z.is_empty()) && addr.parse::<std::net::Ipv6Addr>().is_ok()
}

/// The `<prefix>_*` variables of a URL. `with_name` adds `<prefix>_NAME` (all prefixes
/// but `RABBITMQ`).
pub fn url_env(
    prefix: &str,
    url: &str,
    with_name: bool,
) -> Result<IndexMap<String, String>, UrlError> {
    let p = decompose(url)?;
    let mut env = IndexMap::new();
    let mut put = |suffix: &str, value: String| {
        env.insert(format!("{prefix}_{suffix}"), value);
    };
    put("CONNECT_STRING", url.to_string());
    put("SCHEME", p.scheme.clone());
    put("NETLOC", p.netloc.clone());
    put("PATH", p.path.clone());
    put("PARAMS", p.params.clone());
    put("QUERY", p.query.clone());
    put("FRAGMENT", p.fragment.clone());
    if let Some(u) = p.username {
        put("USERNAME", u);
    }
    if let Some(pw) = p.password {
        put("PASSWORD", pw);
    }
    if let Some(h) = p.hostname {
        put("HOSTNAME", h);
    }
    if let Some(port) = p.port {
        put("PORT", port.to_string());
    }
    if with_name && !p.path.is_empty() {
        put(
            "NAME",
            p.path.strip_prefix('/').unwrap_or(&p.path).to_string(),
        );
    }
    Ok(env)
}

/// Normalise a URL the way the reference's pydantic `AnyUrl` stores it (the WHATWG
/// serialisation); `http_only` is `AnyHttpUrl`. An empty host is rejected.
pub fn normalise_url(url: &str, http_only: bool) -> Result<String, UrlError> {
    let parsed = url::Url::parse(url).map_err(|e| UrlError(format!("{url:?}: {e}")))?;
    if http_only && !matches!(parsed.scheme(), "http" | "https") {
        return Err(UrlError(format!(
            "{url:?}: URL scheme should be 'http' or 'https'"
        )));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(UrlError(format!("{url:?}: empty host")));
    }
    Ok(parsed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(url: &str) -> IndexMap<String, String> {
        url_env("P", url, true).unwrap()
    }

    #[test]
    fn spec_examples() {
        let e = env("postgresql://u:p@ss@h:5432/db");
        assert_eq!(
            (e["P_USERNAME"].as_str(), e["P_PASSWORD"].as_str()),
            ("u", "p@ss")
        );
        assert_eq!(
            (e["P_HOSTNAME"].as_str(), e["P_PORT"].as_str()),
            ("h", "5432")
        );
        assert_eq!(
            env("postgresql://u:p%40ss@h:5432/db")["P_PASSWORD"],
            "p%40ss"
        );
        assert!(url_env("P", "postgresql://u:p/ss@h:5432/db", true).is_err());

        let e = env("postgresql://U:P@HOST.Example:5432/db;par?q=1#frag");
        assert_eq!(e["P_HOSTNAME"], "host.example");
        assert_eq!(e["P_PATH"], "/db;par");
        assert_eq!(e["P_NAME"], "db;par");
        assert_eq!(e["P_PARAMS"], "");
        assert_eq!(e["P_QUERY"], "q=1");
        assert_eq!(e["P_FRAGMENT"], "frag");

        let e = env("postgresql://u:p@[::1]:5432/db");
        assert_eq!(e["P_HOSTNAME"], "::1");
        assert_eq!(e["P_NETLOC"], "u:p@[::1]:5432");

        let e = env("postgresql://h");
        for absent in ["P_USERNAME", "P_PASSWORD", "P_PORT", "P_NAME"] {
            assert!(!e.contains_key(absent), "{absent}");
        }
        assert_eq!(e["P_PATH"], "");

        let e = env("postgresql://u:p@h:5432/");
        assert_eq!((e["P_PATH"].as_str(), e["P_NAME"].as_str()), ("/", ""));

        let e = env("postgresql://@h/db");
        assert_eq!(e["P_USERNAME"], "");
        assert!(!e.contains_key("P_PASSWORD"));

        let e = env(
            "mongodb+srv://testinguser:testingpassword@cluster0.example.mongodb.net/?retryWrites=true&w=majority",
        );
        assert_eq!(e["P_SCHEME"], "mongodb+srv");
        assert_eq!(e["P_PATH"], "/");
        assert_eq!(e["P_NAME"], "");
        assert_eq!(e["P_QUERY"], "retryWrites=true&w=majority");
        assert!(!e.contains_key("P_PORT"));
    }

    #[test]
    fn multi_host() {
        let url = "mongodb://u:p@mongo-0.mongo-endpoints:27017,mongo-1.mongo-endpoints:27017/blog?replicaSet=mongo&authSource=admin";
        let e = url_env("MONGODB_DB", url, true).unwrap();
        let expected = [
            ("MONGODB_DB_CONNECT_STRING", url),
            ("MONGODB_DB_SCHEME", "mongodb"),
            (
                "MONGODB_DB_NETLOC",
                "u:p@mongo-0.mongo-endpoints:27017,mongo-1.mongo-endpoints:27017",
            ),
            ("MONGODB_DB_PATH", "/blog"),
            ("MONGODB_DB_PARAMS", ""),
            ("MONGODB_DB_QUERY", "replicaSet=mongo&authSource=admin"),
            ("MONGODB_DB_FRAGMENT", ""),
            ("MONGODB_DB_USERNAME", "u"),
            ("MONGODB_DB_PASSWORD", "p"),
            ("MONGODB_DB_HOSTNAME", "mongo-0.mongo-endpoints"),
            ("MONGODB_DB_PORT", "27017"),
            ("MONGODB_DB_NAME", "blog"),
        ];
        assert_eq!(e.len(), expected.len());
        for (k, v) in expected {
            assert_eq!(e[k], v, "{k}");
        }
        let e = env("mongodb://u:p@h1,h2/db");
        assert_eq!(e["P_HOSTNAME"], "h1");
        assert!(!e.contains_key("P_PORT"));
    }

    #[test]
    fn invalid_urls() {
        for bad in [
            "postgresql://h:notaport/db",
            "postgresql://h:99999/db",
            "postgresql://[::1/db",
            "postgresql://::1]/db",
            "postgresql://[not-ipv6]:5432/db",
        ] {
            assert!(decompose(bad).is_err(), "{bad}");
        }
        assert_eq!(
            decompose("postgresql://h:05432/x").unwrap().port,
            Some(5432)
        );
    }

    #[test]
    fn params_only_for_some_schemes_and_rabbitmq_has_no_name() {
        let p = decompose("http://h/a;b/c;d?x").unwrap();
        assert_eq!((p.path.as_str(), p.params.as_str()), ("/a;b/c", "d"));
        let e = url_env("RABBITMQ", "amqp://u:p@h:5672/vhost", false).unwrap();
        assert!(!e.contains_key("RABBITMQ_NAME"));
        assert_eq!(e["RABBITMQ_PATH"], "/vhost");
    }

    #[test]
    fn normalisation() {
        for (input, out) in [
            ("http://test-ip:4318", "http://test-ip:4318/"),
            ("http://Tempo.Example:80", "http://tempo.example/"),
            ("https://x:443/p", "https://x/p"),
            (
                "http://localhost:4318/tracing",
                "http://localhost:4318/tracing",
            ),
        ] {
            assert_eq!(normalise_url(input, true).unwrap(), out);
        }
        assert_eq!(
            normalise_url("redis://a:b:c@x:6379", false).unwrap(),
            "redis://a:b%3Ac@x:6379"
        );
        assert_eq!(
            normalise_url("redis://HOST.Ex:6379", false).unwrap(),
            "redis://HOST.Ex:6379"
        );
        for bad in [
            "redis://h:notaport",
            "http://h:99999",
            "http://",
            "http://a b",
            "foo",
        ] {
            assert!(normalise_url(bad, false).is_err(), "{bad}");
        }
        assert!(normalise_url("redis://h:6379", true).is_err());
    }
}
