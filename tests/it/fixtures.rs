//! What the scenario modules share: the example world, `gunicorn.conf.py` and
//! `charmcraft.yaml` variants, small readers of outcomes, statuses, and the macro that
//! runs each scenario in both modes.

use django_charm::juju::tools::{Status, StatusKind};
use django_charm::sim::juju::{ActionState, JujuState, SecretState};
use django_charm::sim::pebble::PebbleOp;
use django_charm::sim::{EXAMPLE, Outcome, Simulation};

use crate::harness::world::{Mode, World};

/// Databags are written with the library's fixture builder, as in its unit tests.
pub use django_charm::sim::juju::bag;

/// The `gunicorn --check-config` exec of the example rock.
pub const CHECK_CONFIG: &str = "exec /bin/python3 -m gunicorn -c /django/gunicorn.conf.py django_app.wsgi:application -k sync --check-config";

/// `gunicorn.conf.py` with no webserver option, tracing or JSON logging.
pub const PLAIN_GUNICORN: &str = "bind = ['0.0.0.0:8000']\nchdir = '/django/app'\naccesslog = '-'\nerrorlog = '-'\nstatsd_host = 'localhost:9125'\ncontrol_socket = '/tmp/gunicorn.ctl'";

/// `charmcraft` with `options` (YAML lines indented under `config.options`) added first.
pub fn with_options(charmcraft: &str, options: &str) -> String {
    let text = charmcraft.replacen(
        "config:\n  options:\n",
        &format!("config:\n  options:\n{options}"),
        1,
    );
    assert_ne!(text, charmcraft);
    text
}

/// The embedded example: leader with peer key, PostgreSQL and ingress data.
pub fn example() -> Simulation {
    Simulation::from_yaml(EXAMPLE).expect("the embedded example parses")
}

pub fn world(mode: Mode) -> World {
    World::new(example(), mode)
}

/// The label of the Juju secret holding the Django secret key.
pub const KEY_LABEL: &str = "django-secret-key";

/// The Django secret key as the model holds it: the latest revision of the secret the
/// peer bag's `django_secret_key_id` names.
pub fn stored_key(juju: &JujuState) -> Option<String> {
    let id = juju
        .relation("secret-storage")?
        .local_app_data
        .get("django_secret_key_id")?;
    let bare = |s: &str| s.rsplit([':', '/']).next().unwrap_or(s).to_string();
    let secret = juju.secrets.iter().find(|s| bare(&s.id) == bare(id))?;
    secret.revisions.last()?.get("value").cloned()
}

/// The secret holding the Django secret key, by its label.
pub fn key_secret(juju: &JujuState) -> Option<&SecretState> {
    juju.secrets
        .iter()
        .find(|s| s.owner.is_some() && s.label.as_deref() == Some(KEY_LABEL))
}

/// A fresh deployment: no key in the peer bag, no secret.
pub fn forget_secret_key(juju: &mut JujuState) {
    juju.relation_mut("secret-storage")
        .expect("the peer relation")
        .local_app_data
        .clear();
    juju.secrets
        .retain(|s| s.label.as_deref() != Some(KEY_LABEL));
}

/// The layout of earlier versions and of the reference charm: the key itself in the
/// peer bag, no secret.
pub fn old_layout(juju: &mut JujuState, key: &str) {
    forget_secret_key(juju);
    juju.relation_mut("secret-storage")
        .expect("the peer relation")
        .local_app_data = bag(&[("django_secret_key", key)]);
}

/// `key` is in no relation bag, log line or status.
pub fn assert_key_hidden(juju: &JujuState, key: &str) {
    for rel in &juju.relations {
        let bags = std::iter::once(&rel.local_app_data)
            .chain(std::iter::once(&rel.local_unit_data))
            .chain(std::iter::once(&rel.remote_app_data))
            .chain(rel.remote_units.values());
        for bag in bags {
            assert!(
                bag.values().all(|v| !v.contains(key)),
                "the key is in a bag of {}",
                rel.endpoint
            );
        }
    }
    assert!(!juju.log_text().contains(key), "the key is logged");
    for status in juju.status_history.iter() {
        assert!(
            !format!("{status:?}").contains(key),
            "the key is in a status"
        );
    }
}

pub fn blocked(m: &str) -> Option<Status> {
    Some(Status::new(StatusKind::Blocked, m))
}

pub fn waiting(m: &str) -> Option<Status> {
    Some(Status::new(StatusKind::Waiting, m))
}

pub fn active() -> Option<Status> {
    Some(Status::active())
}

/// The next event is an action with these parameters.
pub fn action(sim: &mut Simulation, params: serde_json::Value) {
    sim.juju.action = Some(ActionState {
        params: params
            .as_object()
            .expect("parameters are an object")
            .clone(),
        ..Default::default()
    });
}

/// Run an event that must succeed (exit 0).
pub fn run(sim: &mut World, event: &str) -> Outcome {
    let out = sim.run(event);
    assert_eq!(out.exit_code, 0, "{event}:\n{}", out.report());
    out
}

/// Pebble operations in a short form; writes of the migration status show the value.
pub fn op_names(ops: &[PebbleOp]) -> Vec<String> {
    ops.iter()
        .map(|op| match op {
            PebbleOp::AddLayer { label, .. } => format!("add-layer {label}"),
            PebbleOp::ServiceAction { action, services } => {
                format!("{} {}", action.as_str(), services.join(","))
            }
            PebbleOp::Push { path, content, .. } => match path.as_str() {
                "/tmp/django/state/database-migration-status" => {
                    format!(
                        "write {path} {}",
                        String::from_utf8_lossy(content.as_bytes())
                    )
                }
                _ => format!("write {path}"),
            },
            PebbleOp::MakeDir { path, .. } => format!("mkdir {path}"),
            PebbleOp::Remove { path, .. } => format!("remove {path}"),
            PebbleOp::Exec { command, .. } => format!("exec {}", command.join(" ")),
            PebbleOp::Signal { signal, services } => {
                format!("signal {signal} {}", services.join(","))
            }
        })
        .collect()
}

/// `in_both_modes!(a, b)`: tests `memory::a`, `dispatch::a`, ... calling `a(mode)`.
macro_rules! in_both_modes {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(#[test]
            fn $name() {
                super::$name(super::Mode::Memory)
            })*
        }
        mod dispatch {
            $(#[test]
            fn $name() {
                super::$name(super::Mode::Dispatch)
            })*
        }
    };
}
pub(crate) use in_both_modes;
