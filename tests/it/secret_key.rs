//! The Django secret key in an application-owned Juju secret: first generation, the move
//! from the peer bag (unchanged), adoption of an existing secret, rotation to every unit,
//! removal of old revisions, and leader changes. Each unit is its own world; what Juju
//! shares between them (the peer application bag, the secret's revisions) is copied
//! across with [`share`].

use django_charm::sim::juju::{JujuState, SecretState};

use crate::fixtures::*;
use crate::harness::world::{Mode, World};

/// The key every test starts from when it needs one it knows.
const OLD_KEY: &str =
    "reference-charm-key_with-86-chars-from-token-urlsafe-64-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

/// Unit 1 of the same application, not the leader, seeing `leader`'s model.
fn other_unit(leader: &World) -> World {
    let mut sim = leader.sim.clone();
    sim.juju.unit = "django-k8s/1".into();
    sim.juju.leader = false;
    sim.juju
        .relation_mut("secret-storage")
        .unwrap()
        .remote_units = [("django-k8s/0".to_string(), Default::default())]
        .into_iter()
        .collect();
    World::new(sim, leader.mode)
}

/// What Juju shares between the units of one application: our application bag on the
/// peer relation and the revisions and metadata of the secrets the application owns.
/// What each unit is pinned to stays its own.
fn share(from: &JujuState, to: &mut JujuState) {
    let bag = from
        .relation("secret-storage")
        .unwrap()
        .local_app_data
        .clone();
    to.relation_mut("secret-storage").unwrap().local_app_data = bag;
    for secret in from.secrets.iter().filter(|s| s.owner.is_some()) {
        match to.secrets.iter_mut().find(|s| s.id == secret.id) {
            Some(mine) => {
                let pinned = mine.pinned;
                *mine = SecretState {
                    pinned,
                    ..secret.clone()
                };
            }
            None => to.secrets.push(SecretState {
                pinned: None,
                ..secret.clone()
            }),
        }
    }
    to.secrets
        .retain(|s| s.owner.is_none() || from.secrets.iter().any(|theirs| theirs.id == s.id));
}

/// The hook tools an outcome called, as `tool arg arg ...`.
fn tool_calls(out: &django_charm::sim::Outcome) -> Vec<String> {
    out.calls()
        .iter()
        .map(|c| format!("{} {}", c.tool, c.args.join(" ")))
        .collect()
}

fn called(out: &django_charm::sim::Outcome, tool: &str) -> usize {
    out.calls().iter().filter(|c| c.tool == tool).count()
}

/// Writes to the peer relation's bags.
fn peer_writes(out: &django_charm::sim::Outcome) -> usize {
    tool_calls(out)
        .iter()
        .filter(|c| c.starts_with("relation-set -r secret-storage"))
        .count()
}

fn peer_bag(sim: &World) -> Vec<(String, String)> {
    sim.juju
        .relation("secret-storage")
        .unwrap()
        .local_app_data
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn fresh_deployment_keeps_the_key_in_a_secret_every_unit_reads(mode: Mode) {
    let mut leader = world(mode);
    forget_secret_key(&mut leader.juju);
    let out = run(&mut leader, "secret-storage-relation-created");
    assert_eq!(called(&out, "secret-add"), 1);
    let secret = key_secret(&leader.juju).expect("the key's secret").clone();
    let key = stored_key(&leader.juju).unwrap();
    assert_eq!(key.len(), 86);
    assert_eq!(
        peer_bag(&leader),
        [("django_secret_key_id".to_string(), secret.id.clone())]
    );
    assert_eq!(
        run(&mut leader, "config-changed").django_env()["DJANGO_SECRET_KEY"],
        key
    );
    // A second run of the hook keeps what there is.
    let out = run(&mut leader, "secret-storage-relation-created");
    assert_eq!(called(&out, "secret-add"), 0);
    assert_eq!(stored_key(&leader.juju).unwrap(), key);

    let mut unit1 = other_unit(&leader);
    let out = run(&mut unit1, "config-changed");
    assert_eq!(out.django_env()["DJANGO_SECRET_KEY"], key);
    assert!(
        tool_calls(&out).contains(&format!("secret-get --format=json {} --refresh", secret.id)),
        "{:?}",
        tool_calls(&out)
    );
    assert_eq!(called(&out, "secret-add") + peer_writes(&out), 0);
    assert_key_hidden(&leader.juju, &key);
    assert_key_hidden(&unit1.juju, &key);
}

fn a_key_in_the_peer_bag_moves_into_a_secret_unchanged(mode: Mode) {
    let mut leader = world(mode);
    old_layout(&mut leader.juju, OLD_KEY);
    let mut unit1 = other_unit(&leader);

    // Before the leader moves it, the other unit reads the old field and writes nothing.
    let out = run(&mut unit1, "upgrade-charm");
    assert_eq!(called(&out, "secret-add") + peer_writes(&out), 0);
    let out = run(&mut unit1, "config-changed");
    assert_eq!(out.django_env()["DJANGO_SECRET_KEY"], OLD_KEY);
    assert_eq!(
        called(&out, "secret-add") + called(&out, "secret-info-get"),
        0
    );

    let out = run(&mut leader, "upgrade-charm");
    assert_eq!(called(&out, "secret-add"), 1);
    assert_eq!(
        key_secret(&leader.juju).unwrap().revisions,
        vec![bag(&[("value", OLD_KEY)])],
        "the same key, in one revision"
    );
    let id = key_secret(&leader.juju).unwrap().id.clone();
    assert_eq!(
        peer_bag(&leader),
        [("django_secret_key_id".to_string(), id)]
    );
    let out = run(&mut leader, "config-changed");
    assert_eq!(out.django_env()["DJANGO_SECRET_KEY"], OLD_KEY);
    assert_eq!(
        called(&out, "secret-add") + called(&out, "secret-info-get"),
        0
    );

    share(&leader.juju, &mut unit1.juju);
    let out = run(&mut unit1, "secret-storage-relation-changed");
    assert_eq!(out.django_env()["DJANGO_SECRET_KEY"], OLD_KEY);
    assert_key_hidden(&leader.juju, OLD_KEY);
    assert_key_hidden(&unit1.juju, OLD_KEY);
}

/// The leader's first hook after the refresh may be any hook that gathers state.
fn every_hook_that_gathers_state_moves_the_key_first(mode: Mode) {
    for event in [
        "config-changed",
        "update-status",
        "leader-elected",
        "secret-storage-relation-changed",
        "secret-storage-relation-created",
        "django-app-pebble-ready",
    ] {
        let mut leader = world(mode);
        old_layout(&mut leader.juju, OLD_KEY);
        let out = run(&mut leader, event);
        assert_eq!(
            stored_key(&leader.juju).as_deref(),
            Some(OLD_KEY),
            "{event}"
        );
        assert_eq!(
            peer_bag(&leader).len(),
            1,
            "{event}: {:?}",
            peer_bag(&leader)
        );
        // Hooks that reconcile (update-status does not) run with the same key.
        if op_names(out.ops())
            .iter()
            .any(|op| op.starts_with("add-layer"))
        {
            assert_eq!(out.django_env()["DJANGO_SECRET_KEY"], OLD_KEY, "{event}");
        }
        assert_key_hidden(&leader.juju, OLD_KEY);
    }
}

fn an_existing_secret_with_our_label_is_adopted_untouched(mode: Mode) {
    for old_field in [None, Some("a-stale-key-that-is-not-in-use")] {
        let mut leader = world(mode);
        forget_secret_key(&mut leader.juju);
        if let Some(stale) = old_field {
            old_layout(&mut leader.juju, stale);
        }
        let existing = SecretState::owned(
            "secret:d4adopted0000000000000",
            KEY_LABEL,
            bag(&[("value", "the-key-in-use")]),
        );
        leader.juju.secrets.push(existing.clone());
        for event in [
            "upgrade-charm",
            "secret-storage-relation-created",
            "config-changed",
        ] {
            let out = run(&mut leader, event);
            assert_eq!(called(&out, "secret-add"), 0, "{event}");
            assert_eq!(called(&out, "secret-set"), 0, "{event}");
        }
        assert_eq!(
            peer_bag(&leader),
            [(
                "django_secret_key_id".to_string(),
                "secret:d4adopted0000000000000".to_string()
            )],
            "{old_field:?}: the old field is deleted unused"
        );
        let adopted: Vec<_> = leader
            .juju
            .secrets
            .iter()
            .filter(|s| s.label.as_deref() == Some(KEY_LABEL))
            .collect();
        assert_eq!(adopted.len(), 1);
        assert_eq!(adopted[0].revisions, existing.revisions);
        assert_eq!(
            run(&mut leader, "config-changed").django_env()["DJANGO_SECRET_KEY"],
            "the-key-in-use"
        );
    }
}

fn rotation_reaches_every_unit_and_old_revisions_go(mode: Mode) {
    let mut leader = world(mode);
    run(&mut leader, "config-changed");
    let id = key_secret(&leader.juju).unwrap().id.clone();
    let old = stored_key(&leader.juju).unwrap();
    let mut unit1 = other_unit(&leader);
    assert_eq!(
        run(&mut unit1, "config-changed").django_env()["DJANGO_SECRET_KEY"],
        old
    );

    action(&mut leader, serde_json::json!({}));
    let out = run(&mut leader, "rotate-secret-key");
    assert_eq!(
        out.juju.action.clone().unwrap().results["status"],
        "success"
    );
    let new = stored_key(&leader.juju).unwrap();
    assert_ne!(new, old);
    assert_eq!(new.len(), 86);
    assert_eq!(key_secret(&leader.juju).unwrap().revisions.len(), 2);
    assert_eq!(
        out.django_env()["DJANGO_SECRET_KEY"],
        new,
        "reconciled with the new key"
    );
    assert!(op_names(out.ops()).contains(&"replan ".to_string()));
    assert_eq!(
        peer_bag(&leader),
        [("django_secret_key_id".to_string(), id.clone())]
    );
    assert_eq!(
        run(&mut leader, "config-changed").django_env()["DJANGO_SECRET_KEY"],
        new,
        "the leader stays on the new revision"
    );

    // The other unit hears of the new revision through secret-changed.
    share(&leader.juju, &mut unit1.juju);
    unit1.env.insert("JUJU_SECRET_ID".into(), id.clone());
    let out = run(&mut unit1, "secret-changed");
    assert_eq!(out.django_env()["DJANGO_SECRET_KEY"], new);

    // Once no unit tracks revision 1, the leader is told to remove it.
    let qualified = format!(
        "secret://{}/{}",
        leader.juju.model_uuid,
        id.trim_start_matches("secret:")
    );
    leader.env.insert("JUJU_SECRET_ID".into(), qualified);
    leader.env.insert("JUJU_SECRET_REVISION".into(), "1".into());
    let out = run(&mut leader, "secret-remove");
    assert_eq!(
        tool_calls(&out)
            .iter()
            .filter(|c| c.starts_with("secret-remove"))
            .collect::<Vec<_>>(),
        [&format!("secret-remove {id} --revision 1")]
    );
    assert!(key_secret(&leader.juju).unwrap().revisions[0].is_empty());
    // Another secret's removal is not ours to act on.
    leader
        .env
        .insert("JUJU_SECRET_ID".into(), "secret:someone-elses".into());
    let out = run(&mut leader, "secret-remove");
    assert_eq!(called(&out, "secret-remove"), 0);

    action(&mut unit1, serde_json::json!({}));
    let out = run(&mut unit1, "rotate-secret-key");
    assert_eq!(
        out.juju.action.clone().unwrap().failed.as_deref(),
        Some("only leader unit can rotate secret key")
    );
    for juju in [&leader.juju, &unit1.juju] {
        assert_key_hidden(juju, &old);
        assert_key_hidden(juju, &new);
    }

    let mut sim = world(mode);
    forget_secret_key(&mut sim.juju);
    action(&mut sim, serde_json::json!({}));
    let out = run(&mut sim, "rotate-secret-key");
    assert_eq!(
        out.juju.action.clone().unwrap().failed.as_deref(),
        Some("charm is still initializing")
    );
}

/// A leader still holding the key in the bag does no migration step before rotating: the
/// new key goes straight into a new secret.
fn rotation_from_the_old_layout_adds_the_new_key_directly(mode: Mode) {
    let mut leader = world(mode);
    old_layout(&mut leader.juju, OLD_KEY);
    action(&mut leader, serde_json::json!({}));
    let out = run(&mut leader, "rotate-secret-key");
    assert_eq!(
        out.juju.action.clone().unwrap().results["status"],
        "success"
    );
    // The PostgreSQL credentials are read as always; the key's secret is only added.
    let secrets: Vec<String> = tool_calls(&out)
        .into_iter()
        .filter(|c| c.starts_with("secret-") && !c.contains("postgresql"))
        .map(|c| c.split(' ').next().unwrap().to_string())
        .collect();
    assert_eq!(secrets, ["secret-add"], "{:?}", tool_calls(&out));
    let secret = key_secret(&leader.juju).unwrap();
    assert_eq!(secret.revisions.len(), 1);
    let new = stored_key(&leader.juju).unwrap();
    assert_ne!(new, OLD_KEY);
    assert_eq!(out.django_env()["DJANGO_SECRET_KEY"], new);
    assert_eq!(peer_bag(&leader).len(), 1, "the old field is gone");
}

fn a_new_leader_neither_regenerates_nor_migrates(mode: Mode) {
    let mut unit0 = world(mode);
    run(&mut unit0, "config-changed");
    let key = stored_key(&unit0.juju).unwrap();
    let mut unit1 = other_unit(&unit0);
    unit1.juju.leader = true;
    for event in [
        "leader-elected",
        "config-changed",
        "secret-storage-relation-created",
    ] {
        let out = run(&mut unit1, event);
        for tool in ["secret-add", "secret-set", "secret-info-get"] {
            assert_eq!(called(&out, tool), 0, "{event}: {tool}");
        }
        assert_eq!(peer_writes(&out), 0, "{event}");
    }
    assert_eq!(stored_key(&unit1.juju).unwrap(), key);
    assert_eq!(
        run(&mut unit1, "config-changed").django_env()["DJANGO_SECRET_KEY"],
        key
    );
}

fn a_secret_that_is_gone_or_not_granted_waits_for_the_peer(mode: Mode) {
    for break_it in [
        |j: &mut JujuState| j.secrets.retain(|s| s.label.as_deref() != Some(KEY_LABEL)),
        |j: &mut JujuState| {
            for s in j
                .secrets
                .iter_mut()
                .filter(|s| s.label.as_deref() == Some(KEY_LABEL))
            {
                s.granted = false;
            }
        },
    ] {
        let mut unit1 = other_unit(&world(mode));
        break_it(&mut unit1.juju);
        let out = run(&mut unit1, "config-changed");
        assert_eq!(
            out.juju.unit_status,
            waiting("Waiting for peer integration")
        );
        assert!(out.ops().is_empty(), "{:?}", op_names(out.ops()));
    }
}

in_both_modes!(
    fresh_deployment_keeps_the_key_in_a_secret_every_unit_reads,
    a_key_in_the_peer_bag_moves_into_a_secret_unchanged,
    every_hook_that_gathers_state_moves_the_key_first,
    an_existing_secret_with_our_label_is_adopted_untouched,
    rotation_reaches_every_unit_and_old_revisions_go,
    rotation_from_the_old_layout_adds_the_new_key_directly,
    a_new_leader_neither_regenerates_nor_migrates,
    a_secret_that_is_gone_or_not_granted_waits_for_the_peer,
);
