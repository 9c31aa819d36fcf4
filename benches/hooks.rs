//! Wall time of whole hooks, end to end through `dispatch` (the built binary, the fake
//! hook tools, the fake Pebble server), and of the same hooks in memory.
//!
//! `cargo bench --bench hooks` prints, for each representative hook, the median and
//! the 90th percentile of its wall time beside its hook-tool calls and the calls that
//! are round trips to the controller (`juju::read_cache::is_round_trip`):
//! * a first `config-changed` on a fresh container (full reconcile: capture, layer,
//!   gunicorn check, migration, replan);
//! * on a deployed, Active unit, hooks with nothing to do: `config-changed`,
//!   `secret-storage-relation-changed`, `update-status`, `postgresql-relation-changed`
//!   (the common steady state).
//!
//! Through dispatch the time is that of the `dispatch` process alone (hook tools
//! included), not of the harness setting up the charm directory and the fake server.
//! Timings, not assertions: the machines are shared and noisy.

// The integration tests' harness, for `World`. The bench uses little of it: the rest is
// checked for use where it lives (`tests/it`).
#[path = "../tests/it/harness/mod.rs"]
#[allow(dead_code)]
mod harness;

use std::time::{Duration, Instant};

use django_charm::juju::read_cache::is_round_trip;
use django_charm::sim::{EXAMPLE, Simulation};
use harness::world::{Mode, World};

fn stats(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let median = samples[samples.len() / 2];
    let p90 = samples[(samples.len() * 9) / 10];
    (median, p90)
}

/// A representative hook: its label, the event, and whether it runs on a fresh
/// container (the example as it is) or on a deployed, Active unit (after one reconcile).
struct Hook {
    label: &'static str,
    event: &'static str,
    fresh: bool,
}

const HOOKS: [Hook; 5] = [
    Hook {
        label: "config-changed, first reconcile",
        event: "config-changed",
        fresh: true,
    },
    Hook {
        label: "config-changed, nothing to do",
        event: "config-changed",
        fresh: false,
    },
    Hook {
        label: "secret-storage-relation-changed, nothing",
        event: "secret-storage-relation-changed",
        fresh: false,
    },
    Hook {
        label: "update-status, healthy",
        event: "update-status",
        fresh: false,
    },
    Hook {
        label: "postgresql-relation-changed, same data",
        event: "postgresql-relation-changed",
        fresh: false,
    },
];

fn bench(hook: &Hook, mode: Mode, rounds: usize) {
    let mut samples = Vec::with_capacity(rounds);
    let mut steady = World::new(Simulation::from_yaml(EXAMPLE).unwrap(), mode);
    steady.run("config-changed");
    let mut calls = (0, 0);
    for _ in 0..rounds {
        let mut world = if hook.fresh {
            World::new(Simulation::from_yaml(EXAMPLE).unwrap(), mode)
        } else {
            World::new(steady.sim.clone(), mode)
        };
        let start = Instant::now();
        let out = world.run(hook.event);
        // Through dispatch, time the hook process alone, not the harness's setup.
        samples.push(world.last_hook_time.unwrap_or_else(|| start.elapsed()));
        assert_eq!(out.exit_code, 0);
        calls = (
            out.calls().len(),
            out.calls()
                .iter()
                .filter(|c| is_round_trip(&c.tool))
                .count(),
        );
    }
    let (median, p90) = stats(samples);
    let how = match mode {
        Mode::Dispatch => "dispatch",
        Mode::Memory => "in memory",
    };
    println!(
        "{:<54} median {median:>10.3?}  p90 {p90:>10.3?}  tool calls {:>2}  round trips {:>2}  ({rounds} runs)",
        format!("{}, {how}", hook.label),
        calls.0,
        calls.1
    );
}

fn main() {
    // `cargo test --benches` runs this with `--bench` absent: keep that quick.
    let rounds = if std::env::args().any(|a| a == "--bench") {
        50
    } else {
        2
    };
    for mode in [Mode::Dispatch, Mode::Memory] {
        for hook in &HOOKS {
            bench(hook, mode, rounds);
        }
    }
}
