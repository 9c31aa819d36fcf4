//! The charm binary. Run by `dispatch` with no arguments, it handles one Juju hook or
//! action; with arguments, it offers the developer subcommands.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use django_charm::charm::{CONTAINER, run_hook};
use django_charm::hook::log;
use django_charm::juju::context::{HookContext, ProcessEnv};
use django_charm::juju::status_memory::{self, StatusMemory};
use django_charm::juju::tools::{HookTools, LogLevel, ProcessRunner};
use django_charm::pebble::client::PebbleClient;
use django_charm::project::Project;
use django_charm::sim::{self, Simulation};

/// Where Juju mounts the workload containers' Pebble sockets.
const DEFAULT_CONTAINERS_DIR: &str = "/charm/containers";

#[derive(Parser)]
#[command(
    version,
    about = "A Juju charm for Django applications. Juju runs it through `dispatch` with no arguments."
)]
enum Cli {
    /// Run one event against an in-memory Juju and Pebble and show what the charm does.
    Simulate {
        /// A YAML simulation state (see the README); the embedded example when absent.
        #[arg(long)]
        state: Option<PathBuf>,
        /// The event to run (`config-changed`, `postgresql-relation-changed`,
        /// `create-superuser`, ...); the state's `event` when absent.
        #[arg(long)]
        event: Option<String>,
    },
}

fn main() -> ExitCode {
    if std::env::args_os().len() > 1 {
        return match Cli::parse() {
            Cli::Simulate { state, event } => simulate(state, event),
        };
    }
    ExitCode::from(dispatch())
}

fn simulate(state: Option<PathBuf>, event: Option<String>) -> ExitCode {
    let text = match &state {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("cannot read {}: {e}", path.display());
                return ExitCode::from(2);
            }
        },
        None => sim::EXAMPLE.to_string(),
    };
    let mut sim = match Simulation::from_yaml(&text) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = sim.check_charmcraft() {
        eprintln!("simulate: {e}");
        return ExitCode::from(2);
    }
    let event = event.unwrap_or_else(|| sim.event.clone());
    match sim.run(&event) {
        Ok(outcome) => {
            println!("event: {event}");
            print!("{}", outcome.report());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cannot run {event}: {e}");
            ExitCode::from(2)
        }
    }
}

/// Handle the hook or action Juju is running.
fn dispatch() -> u8 {
    // Library warnings (the Pebble client's) go to stderr, which Juju keeps in the
    // debug log at WARNING; what the operator must see goes through `juju-log`.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .without_time()
        .init();
    let ctx = match HookContext::from_env(&ProcessEnv) {
        Ok(ctx) => ctx,
        Err(e) => {
            eprintln!("not running as a Juju hook: {e}");
            return 1;
        }
    };
    let mut tools = HookTools::new(ProcessRunner);
    // paas-config.yaml is read from the working directory (the charm directory under Juju).
    let project = match Project::load(&ctx.charm_dir, std::path::Path::new(".")) {
        Ok(project) => project,
        Err(e) => {
            log(
                &mut tools,
                LogLevel::Error,
                &format!("cannot read the charm metadata: {e}"),
            );
            return 1;
        }
    };
    let containers_dir = std::env::var_os("CHARM_CONTAINERS_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONTAINERS_DIR));
    let container = project
        .meta
        .containers
        .first()
        .cloned()
        .unwrap_or_else(|| CONTAINER.to_string());
    let mut pebble = match PebbleClient::for_container(&containers_dir, &container) {
        Ok(p) => p,
        Err(e) => {
            log(
                &mut tools,
                LogLevel::Error,
                &format!("cannot set up the Pebble client: {e}"),
            );
            return 1;
        }
    };
    let memory = ctx.charm_dir.join(status_memory::FILE);
    tools.remember_statuses(StatusMemory::load(&memory), Some(memory));
    run_hook(&ctx, &project, &mut tools, &mut pebble)
}
