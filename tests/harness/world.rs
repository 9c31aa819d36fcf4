//! One scenario, two ways to run it: on the in-memory Juju and Pebble (fast, in
//! process), or end to end through `dispatch`, the built binary, the fake hook tools and
//! the fake Pebble server. Scenario tests run both, so what the in-memory fakes show is
//! what the real binary does over the real protocols.

use std::ops::{Deref, DerefMut};

use django_charm::simulate::{CHARMCRAFT_YAML, Outcome, Simulation};

use super::fake_pebble::FakePebble;
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
                let elapsed = &mut self.last_hook_time;
                self.sim.run_with(event, |env, juju, pebble, reachable| {
                    let mut harness = JujuHarness::new(&charmcraft);
                    harness.state = juju;
                    harness.model_name = model;
                    harness.juju_version = version;
                    let socket = harness.socket_path("django-app");
                    let fake = reachable.then(|| FakePebble::start(&socket, pebble.clone()));
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
                        None => pebble,
                    };
                    let code = u8::try_from(run.code).unwrap_or(255);
                    Ok((code, harness.state, pebble))
                })
            }
        };
        result.unwrap_or_else(|e| panic!("cannot run {event}: {e}"))
    }
}
