//! One scenario, two ways to run it: on the in-memory Juju and Pebble (fast, in
//! process), or end to end through `dispatch`, the built binary, the fake hook tools and
//! the fake Pebble server. Scenario tests run both, so what the in-memory fakes show is
//! what the real binary does over the real protocols.

use std::ops::{Deref, DerefMut};

use django_charm::juju::status_memory::{self, StatusMemory};
use django_charm::sim::{CHARMCRAFT_YAML, HookResult, Outcome, Simulation};

use super::fake_pebble::{CONTAINER, FakePebble};
use super::juju::JujuHarness;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Memory,
    Dispatch,
}

/// A simulation run in one mode.
pub struct World {
    pub sim: Simulation,
    pub mode: Mode,
    /// How long the last `dispatch` process ran (dispatch mode only).
    pub last_hook_time: Option<std::time::Duration>,
}

impl Deref for World {
    type Target = Simulation;
    fn deref(&self) -> &Simulation {
        &self.sim
    }
}

impl DerefMut for World {
    fn deref_mut(&mut self) -> &mut Simulation {
        &mut self.sim
    }
}

/// Variables the harness sets itself (paths of the packed charm and the fakes).
const HARNESS_OWNED: [&str; 2] = ["JUJU_CHARM_DIR", "CHARM_DIR"];

impl World {
    pub fn new(sim: Simulation, mode: Mode) -> World {
        World {
            sim,
            mode,
            last_hook_time: None,
        }
    }

    pub fn run(&mut self, event: &str) -> Outcome {
        let result = match self.mode {
            Mode::Memory => self.sim.run(event),
            Mode::Dispatch => {
                let charmcraft = self
                    .sim
                    .charmcraft
                    .clone()
                    .unwrap_or_else(|| CHARMCRAFT_YAML.to_string());
                let model = self.sim.model.clone();
                let version = self.sim.juju_version.clone();
                let paas_config = self.sim.paas_config.clone();
                let elapsed = &mut self.last_hook_time;
                self.sim.run_with(event, |env, input| {
                    let mut harness = JujuHarness::new(&charmcraft);
                    harness.state = input.juju;
                    harness.model_name = model;
                    harness.juju_version = version;
                    if let Some(text) = &paas_config {
                        std::fs::write(harness.charm_dir().join("paas-config.yaml"), text)
                            .expect("paas-config.yaml in the packed charm");
                    }
                    // The charm directory is new for every hook: the status memory the
                    // last one left goes in, the one this one leaves comes out.
                    let memory = harness.charm_dir().join(status_memory::FILE);
                    if input.last_status != StatusMemory::default() {
                        input.last_status.save(&memory).expect("the status memory");
                    }
                    let socket = harness.socket_path(CONTAINER);
                    let fake = input
                        .reachable
                        .then(|| FakePebble::start(&socket, input.pebble.clone()));
                    let path = env["JUJU_DISPATCH_PATH"].clone();
                    let event_env: Vec<(&str, &str)> = env
                        .iter()
                        .filter(|(k, _)| !HARNESS_OWNED.contains(&k.as_str()))
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect();
                    let run = harness.run(&path, &event_env);
                    *elapsed = Some(run.elapsed);
                    assert!(
                        !run.stderr.contains("panicked"),
                        "the charm panicked:\n{}",
                        run.stderr
                    );
                    let pebble = match fake {
                        Some(fake) => fake.stop(),
                        None => input.pebble,
                    };
                    Ok(HookResult {
                        exit_code: u8::try_from(run.code).unwrap_or(255),
                        juju: harness.state,
                        pebble,
                        last_status: StatusMemory::load(&memory),
                        skipped_statuses: vec![],
                    })
                })
            }
        };
        let outcome = result.unwrap_or_else(|e| panic!("cannot run {event}: {e}"));
        assert_no_secret_leaked(&outcome);
        outcome
    }
}

/// Every scenario checks that no secret value (secret contents, the Django secret key,
/// passwords in databags, action results) reached a `juju-log` line or a status.
fn assert_no_secret_leaked(out: &Outcome) {
    let juju = &out.juju;
    let mut secrets: Vec<&str> = juju
        .secrets
        .iter()
        .flat_map(|s| s.revisions.iter().flat_map(|r| r.values()))
        .map(String::as_str)
        .collect();
    for rel in &juju.relations {
        for bag in [&rel.local_app_data, &rel.remote_app_data] {
            for (k, v) in bag.iter() {
                if k.contains("secret_key") || k.contains("password") {
                    secrets.push(v);
                }
            }
        }
    }
    if let Some(key) = juju
        .config
        .get("django-secret-key")
        .and_then(|v| v.as_str())
    {
        secrets.push(key);
    }
    if let Some(action) = &juju.action {
        secrets.extend(action.results.values().map(String::as_str));
    }
    let logs = juju.log_text();
    let statuses: Vec<&str> = juju
        .status_history
        .iter()
        .map(|s| s.status.message.as_str())
        .collect();
    // Short values could match by chance; secrets worth the name are not that short.
    for secret in secrets.into_iter().filter(|s| s.len() >= 6) {
        assert!(
            !logs.contains(secret),
            "secret value {secret:?} in juju-log:\n{logs}"
        );
        assert!(
            !statuses.iter().any(|m| m.contains(secret)),
            "secret value {secret:?} in a status"
        );
    }
}
