//! Wall time of whole hooks, end to end through `dispatch` (the built binary, the fake
//! hook tools, the fake Pebble server), and of the same hooks in memory.
//!
//! `cargo bench --bench hooks` prints the median and the 90th percentile of:
//! * a first `config-changed` on a fresh container (full reconcile: capture, layer,
//!   gunicorn check, migration, replan);
//! * a repeated `config-changed` with nothing to do (the common steady state).
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

use django_charm::sim::{EXAMPLE, Simulation};
use harness::world::{Mode, World};

fn stats(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let median = samples[samples.len() / 2];
    let p90 = samples[(samples.len() * 9) / 10];
    (median, p90)
}

fn bench(label: &str, mode: Mode, rounds: usize, fresh: bool) {
    let mut samples = Vec::with_capacity(rounds);
    let mut steady = World::new(Simulation::from_yaml(EXAMPLE).unwrap(), mode);
    steady.run("config-changed");
    for _ in 0..rounds {
        let mut world = if fresh {
            World::new(Simulation::from_yaml(EXAMPLE).unwrap(), mode)
        } else {
            World::new(steady.sim.clone(), mode)
        };
        let start = Instant::now();
        let out = world.run("config-changed");
        // Through dispatch, time the hook process alone, not the harness's setup.
        samples.push(world.last_hook_time.unwrap_or_else(|| start.elapsed()));
        assert_eq!(out.exit_code, 0);
    }
    let (median, p90) = stats(samples);
    println!("{label:<48} median {median:>10.3?}  p90 {p90:>10.3?}  ({rounds} runs)");
}

fn main() {
    // `cargo test --benches` runs this with `--bench` absent: keep that quick.
    let rounds = if std::env::args().any(|a| a == "--bench") {
        50
    } else {
        2
    };
    bench(
        "config-changed, first reconcile, dispatch",
        Mode::Dispatch,
        rounds,
        true,
    );
    bench(
        "config-changed, nothing to do, dispatch",
        Mode::Dispatch,
        rounds,
        false,
    );
    bench(
        "config-changed, first reconcile, in memory",
        Mode::Memory,
        rounds,
        true,
    );
    bench(
        "config-changed, nothing to do, in memory",
        Mode::Memory,
        rounds,
        false,
    );
}
