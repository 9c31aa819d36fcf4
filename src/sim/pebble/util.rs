//! Small pieces of Go and POSIX behaviour the in-memory Pebble needs to answer the way
//! the real daemon does: Go's duration syntax and its `Duration.String()` form, Go's
//! `path.Match` globs, lexical path cleaning, shell-like word splitting of service
//! commands, and RFC 3339 timestamps.

use std::time::{SystemTime, UNIX_EPOCH};

const NANOS_PER_SEC: i128 = 1_000_000_000;

/// Parse a Go `time.ParseDuration` string into nanoseconds (`None` when Go rejects it).
pub fn parse_go_duration(text: &str) -> Option<i128> {
    let mut rest = text;
    let mut negative = false;
    if let Some(stripped) = rest.strip_prefix('-') {
        negative = true;
        rest = stripped;
    } else if let Some(stripped) = rest.strip_prefix('+') {
        rest = stripped;
    }
    // Go special-cases a bare "0"; any other number needs a unit.
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_part, after_int) = rest.split_at(int_len);
        let (frac_part, after_frac) = match after_int.strip_prefix('.') {
            Some(after_dot) => {
                let frac_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
                after_dot.split_at(frac_len)
            }
            None => ("", after_int),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return None;
        }
        let unit_len = after_frac
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(after_frac.len(), |(i, _)| i);
        let (unit, after_unit) = after_frac.split_at(unit_len);
        let scale: i128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => NANOS_PER_SEC,
            "m" => 60 * NANOS_PER_SEC,
            "h" => 3600 * NANOS_PER_SEC,
            _ => return None,
        };
        let whole: i128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().ok()?
        };
        let mut value = whole.checked_mul(scale)?;
        if !frac_part.is_empty() {
            // Keep at most 18 digits: beyond that the fraction cannot change a
            // nanosecond count of any unit we accept.
            let digits = &frac_part[..frac_part.len().min(18)];
            let numerator: i128 = digits.parse().ok()?;
            let denominator = 10i128.pow(u32::try_from(digits.len()).ok()?);
            value = value.checked_add(numerator * scale / denominator)?;
        }
        total = total.checked_add(value)?;
        // Go's Duration is an int64 of nanoseconds.
        if total > i128::from(i64::MAX) {
            return None;
        }
        rest = after_unit;
    }
    Some(if negative { -total } else { total })
}

/// Go's `time.Duration.String()` of a nanosecond count (`1m0s`, `500ms`, `1.5s`).
pub fn format_go_duration(nanos: i128) -> String {
    if nanos == 0 {
        return "0s".to_string();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let u = nanos.unsigned_abs();
    if u < 1_000 {
        return format!("{sign}{u}ns");
    }
    if u < 1_000_000 {
        return format!("{sign}{}µs", decimal(u, 3));
    }
    if u < 1_000_000_000 {
        return format!("{sign}{}ms", decimal(u, 6));
    }
    let minutes = u / 60_000_000_000;
    let seconds = decimal(u % 60_000_000_000, 9);
    if minutes == 0 {
        return format!("{sign}{seconds}s");
    }
    let hours = minutes / 60;
    if hours == 0 {
        return format!("{sign}{minutes}m{seconds}s");
    }
    format!("{sign}{hours}h{}m{seconds}s", minutes % 60)
}

/// `value / 10^places` printed with the fraction's trailing zeros dropped.
fn decimal(value: u128, places: u32) -> String {
    let unit = 10u128.pow(places);
    let whole = value / unit;
    let frac = value % unit;
    if frac == 0 {
        return whole.to_string();
    }
    let digits = format!("{frac:0width$}", width = places as usize);
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// Re-print a duration string the way Pebble prints it in a plan; unparsable text is
/// returned unchanged (validation reports it elsewhere).
pub fn normalise_duration(text: &str) -> String {
    parse_go_duration(text).map_or_else(|| text.to_string(), format_go_duration)
}

/// Lexically clean an absolute path like Go's `path.Clean` (`/a//b/../c/` → `/a/c`).
pub fn clean_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    format!("/{}", parts.join("/"))
}

/// The parent of a cleaned absolute path (`/` is its own parent).
pub fn parent_of(path: &str) -> String {
    match path.rfind('/') {
        Some(0) | None => "/".to_string(),
        Some(i) => path[..i].to_string(),
    }
}

/// The last element of a cleaned absolute path.
pub fn base_name(path: &str) -> String {
    if path == "/" {
        return "/".to_string();
    }
    path.rsplit('/').next().unwrap_or(path).to_string()
}

/// Every proper ancestor of a cleaned absolute path, nearest to the root first, without
/// `/` itself.
pub fn ancestors(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = parent_of(path);
    while current != "/" {
        out.push(current.clone());
        current = parent_of(&current);
    }
    out.reverse();
    out
}

/// Error of a malformed glob, Go's `path.ErrBadPattern`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadPattern;

/// Go's `path.Match`: `*` and `?` never match `/`; `[...]` classes with ranges and `^`
/// negation; `\` escapes.
pub fn glob_match(pattern: &str, name: &str) -> Result<bool, BadPattern> {
    let pattern: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    // Go reports a syntax error even when the mismatch is found earlier, so validate
    // the whole pattern first.
    validate_glob(&pattern)?;
    Ok(match_from(&pattern, &name))
}

fn validate_glob(pattern: &[char]) -> Result<(), BadPattern> {
    let mut i = 0;
    while i < pattern.len() {
        match pattern[i] {
            '\\' => {
                if i + 1 >= pattern.len() {
                    return Err(BadPattern);
                }
                i += 2;
            }
            '[' => {
                let (_, next) = parse_class(pattern, i, None)?;
                i = next;
            }
            _ => i += 1,
        }
    }
    Ok(())
}

fn match_from(pattern: &[char], name: &[char]) -> bool {
    let Some((&first, rest)) = pattern.split_first() else {
        return name.is_empty();
    };
    match first {
        '*' => {
            // Try every split that keeps `*` inside one path element.
            for taken in 0..=name.len() {
                if taken > 0 && name[taken - 1] == '/' {
                    break;
                }
                if match_from(rest, &name[taken..]) {
                    return true;
                }
            }
            false
        }
        '?' => match name.split_first() {
            Some((&c, tail)) if c != '/' => match_from(rest, tail),
            _ => false,
        },
        '[' => {
            let Some((&c, tail)) = name.split_first() else {
                return false;
            };
            match parse_class(pattern, 0, Some(c)) {
                Ok((true, next)) => match_from(&pattern[next..], tail),
                _ => false,
            }
        }
        '\\' => match (rest.split_first(), name.split_first()) {
            (Some((&p, prest)), Some((&c, tail))) if p == c => match_from(prest, tail),
            _ => false,
        },
        literal => match name.split_first() {
            Some((&c, tail)) if c == literal => match_from(rest, tail),
            _ => false,
        },
    }
}

/// Parse the class starting at `pattern[start] == '['`; returns whether `candidate`
/// matched and the index after `]`.
fn parse_class(
    pattern: &[char],
    start: usize,
    candidate: Option<char>,
) -> Result<(bool, usize), BadPattern> {
    let mut i = start + 1;
    let negated = pattern.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let c = *pattern.get(i).ok_or(BadPattern)?;
        if c == ']' && !first {
            i += 1;
            break;
        }
        first = false;
        let (lo, after_lo) = class_char(pattern, i)?;
        let (hi, after_hi) = if pattern.get(after_lo) == Some(&'-') {
            class_char(pattern, after_lo + 1)?
        } else {
            (lo, after_lo)
        };
        if hi < lo {
            return Err(BadPattern);
        }
        if let Some(c) = candidate
            && lo <= c
            && c <= hi
        {
            matched = true;
        }
        i = after_hi;
    }
    let hit = candidate.is_some_and(|c| c != '/') && matched != negated;
    Ok((hit, i))
}

fn class_char(pattern: &[char], i: usize) -> Result<(char, usize), BadPattern> {
    match pattern.get(i) {
        None | Some('-') | Some(']') => Err(BadPattern),
        Some('\\') => pattern.get(i + 1).map(|&c| (c, i + 2)).ok_or(BadPattern),
        Some(&c) => Ok((c, i + 1)),
    }
}

/// Split a command line like the `shlex` Pebble uses: whitespace separates words,
/// single quotes are literal, double quotes allow `\` escapes, `\` escapes outside
/// quotes. Errors name what was missing.
pub fn shell_split(command: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = command.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' | '\r' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => word.push(ch),
                        None => return Err("EOF found when expecting closing quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(ch @ ('"' | '\\' | '$' | '`')) => word.push(ch),
                            Some('\n') => {}
                            Some(ch) => {
                                word.push('\\');
                                word.push(ch);
                            }
                            None => return Err("EOF found when expecting closing quote".into()),
                        },
                        Some(ch) => word.push(ch),
                        None => return Err("EOF found when expecting closing quote".into()),
                    }
                }
            }
            '\\' => match chars.next() {
                Some('\n') => {}
                Some(ch) => {
                    in_word = true;
                    word.push(ch);
                }
                None => return Err("EOF found after escape character".into()),
            },
            other => {
                in_word = true;
                word.push(other);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// Check Pebble's optional trailing `[ default args ]` group of a service command.
pub fn check_command_brackets(words: &[String]) -> Result<(), String> {
    let mut in_brackets = false;
    let mut had_brackets = false;
    for (idx, word) in words.iter().enumerate() {
        if in_brackets {
            match word.as_str() {
                "[" => return Err("cannot nest [ ... ] groups".into()),
                "]" => in_brackets = false,
                _ => {}
            }
            continue;
        }
        if had_brackets {
            return Err("cannot have any arguments after [ ... ] group".into());
        }
        match word.as_str() {
            "[" if idx == 0 => return Err("cannot start command with [ ... ] group".into()),
            "[" => {
                in_brackets = true;
                had_brackets = true;
            }
            "]" => return Err("cannot have ] outside of [ ... ] group".into()),
            _ => {}
        }
    }
    Ok(())
}

/// The current time as RFC 3339 UTC with nanoseconds, as Pebble prints timestamps.
pub fn rfc3339_now() -> String {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(since_epoch.as_secs(), since_epoch.subsec_nanos())
}

/// `secs` since the Unix epoch (UTC) in RFC 3339 with nanoseconds.
pub fn rfc3339(secs: u64, nanos: u32) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        u32::try_from(month).unwrap_or(1),
        u32::try_from(day).unwrap_or(1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse_and_print_like_go() {
        for (text, printed) in [
            ("1s", "1s"),
            ("60s", "1m0s"),
            ("1.500s", "1.5s"),
            ("1m30s", "1m30s"),
            ("500ms", "500ms"),
            ("3600s", "1h0m0s"),
            ("1h2m3.25s", "1h2m3.25s"),
            ("1.5us", "1.5µs"),
            ("10ns", "10ns"),
            ("0", "0s"),
            ("-2s", "-2s"),
            (".5s", "500ms"),
        ] {
            let nanos = parse_go_duration(text).unwrap_or_else(|| panic!("{text}"));
            assert_eq!(format_go_duration(nanos), printed, "{text}");
        }
        for bad in ["1", "", "s", "1x", "1.s.", "--1s", "1 s", "9999999999h"] {
            assert_eq!(parse_go_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn globs_follow_go_path_match() {
        assert_eq!(glob_match("*.conf", "a.conf"), Ok(true));
        assert_eq!(glob_match("*.conf", "a.confx"), Ok(false));
        assert_eq!(glob_match("a?c", "abc"), Ok(true));
        assert_eq!(glob_match("[a-c]x", "bx"), Ok(true));
        assert_eq!(glob_match("[^a-c]x", "bx"), Ok(false));
        assert_eq!(glob_match("\\*", "*"), Ok(true));
        assert_eq!(glob_match("*", "a/b"), Ok(false));
        assert_eq!(glob_match("[", "a"), Err(BadPattern));
        assert_eq!(glob_match("a[", "b"), Err(BadPattern));
    }

    #[test]
    fn paths_clean_lexically() {
        assert_eq!(clean_path("/a//b/../c/"), "/a/c");
        assert_eq!(clean_path("/"), "/");
        assert_eq!(parent_of("/a"), "/");
        assert_eq!(parent_of("/a/b"), "/a");
        assert_eq!(base_name("/a/b"), "b");
        assert_eq!(ancestors("/a/b/c"), vec!["/a", "/a/b"]);
    }

    #[test]
    fn commands_split_like_shlex() {
        assert_eq!(
            shell_split(r#"/bin/sh -c "echo 'hi' \"x\"" a\ b"#).unwrap(),
            vec!["/bin/sh", "-c", "echo 'hi' \"x\"", "a b"]
        );
        assert!(shell_split("echo 'oops").is_err());
        let words = |s: &str| shell_split(s).unwrap();
        assert!(check_command_brackets(&words("web [ --debug ]")).is_ok());
        assert!(check_command_brackets(&words("[ x ]")).is_err());
        assert!(check_command_brackets(&words("web [ a ] b")).is_err());
        assert!(check_command_brackets(&words("web [ a [ b ] ]")).is_err());
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            rfc3339(1_735_301_967, 569_602_108),
            "2024-12-27T12:19:27.569602108Z"
        );
        assert_eq!(rfc3339(951_782_400, 0), "2000-02-29T00:00:00.000000000Z");
    }
}
