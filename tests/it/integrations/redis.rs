//! The `redis` integration: the lowest unit's `hostname` and `port` as `REDIS_DB_*`, with
//! every joined, changed and broken event forcing migrations.

use super::*;

pub(super) const REDIS: &str = "redis: {interface: redis, optional: true, limit: 1}";
const REDIS_VARS: [(&str, &str); 9] = [
    ("REDIS_DB_CONNECT_STRING", "redis://10.1.2.3:6379"),
    ("REDIS_DB_SCHEME", "redis"),
    ("REDIS_DB_NETLOC", "10.1.2.3:6379"),
    ("REDIS_DB_PATH", ""),
    ("REDIS_DB_PARAMS", ""),
    ("REDIS_DB_QUERY", ""),
    ("REDIS_DB_FRAGMENT", ""),
    ("REDIS_DB_HOSTNAME", "10.1.2.3"),
    ("REDIS_DB_PORT", "6379"),
];

fn redis_worked_example(mode: Mode) {
    let mut w = running(mode, &[REDIS]);
    relate(&mut w, 5, "redis", "redis-k8s", &["redis-k8s/0"]);
    let out = run(&mut w, "redis-relation-created");
    assert!(out.ops().is_empty());
    // Joined with a remote unit: M, even before the unit has published.
    let out = run(&mut w, "redis-relation-joined");
    assert_forced_migration(&out);
    assert!(!out.django_env().contains_key("REDIS_DB_CONNECT_STRING"));

    provider_unit_data(
        &mut w,
        "redis",
        "redis-k8s/0",
        bag(&[("hostname", "10.1.2.3"), ("port", "6379")]),
    );
    let before = current_env(&w);
    let out = run(&mut w, "redis-relation-changed");
    assert_forced_migration(&out);
    assert_eq!(changes(&before, &out.django_env()), set(&REDIS_VARS));
    // We write nothing to redis.
    assert!(our_app_bag(&out, "redis").is_empty());
    assert!(our_unit_bag(&out, "redis").is_empty());

    // Broken is an M event too.
    let out = break_relation(&mut w, "redis", &REDIS_VARS);
    assert_forced_migration(&out);
}

fn redis_malformed_then_fixed(mode: Mode) {
    let mut w = running(mode, &[REDIS]);
    relate(&mut w, 5, "redis", "redis-k8s", &["redis-k8s/0"]);
    provider_unit_data(
        &mut w,
        "redis",
        "redis-k8s/0",
        bag(&[("hostname", "10.1.2.3"), ("port", "notaport")]),
    );
    let out = w.run("redis-relation-changed");
    assert_blocked_untouched(&out, "Invalid redis relation data.");

    provider_unit_data(
        &mut w,
        "redis",
        "redis-k8s/0",
        bag(&[("hostname", "10.1.2.3"), ("port", "6379")]),
    );
    let before = current_env(&w);
    let out = run(&mut w, "redis-relation-changed");
    assert_forced_migration(&out);
    assert_eq!(changes(&before, &out.django_env()), set(&REDIS_VARS));
}

in_both_modes!(redis_worked_example, redis_malformed_then_fixed,);
