//! The test harness's fake Juju hook tools: one binary linked under every tool name.
//!
//! Like the real tools (symlinks to `jujuc`, which talk to the unit agent over
//! `JUJU_AGENT_SOCKET_ADDRESS`), it finds "the agent" through that variable: here it
//! names the JSON file holding the harness's [`JujuState`]. Each call loads the state,
//! lets the product's in-memory Juju interpret the argv (so the harness and the unit
//! tests share one model of Juju), saves the state and answers as the tool would.

use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;

use django_charm::sim::juju::{HookScope, JujuState, run_tool};

fn env_opt(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn main() -> ExitCode {
    let mut argv = std::env::args();
    let argv0 = argv.next().unwrap_or_default();
    let tool = Path::new(&argv0)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let args: Vec<String> = argv.collect();
    let Some(state_path) = env_opt("JUJU_AGENT_SOCKET_ADDRESS") else {
        eprintln!("ERROR {tool}: JUJU_AGENT_SOCKET_ADDRESS is not set (not in a hook)");
        return ExitCode::from(1);
    };
    let mut state: JujuState = match std::fs::read(&state_path)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ERROR cannot reach the agent at {state_path}: {e}");
            return ExitCode::from(1);
        }
    };
    let reads_stdin = args.windows(2).any(|w| w[0] == "--file" && w[1] == "-")
        || args.iter().any(|a| a == "--file=-");
    let mut stdin = Vec::new();
    if reads_stdin && std::io::stdin().read_to_end(&mut stdin).is_err() {
        eprintln!("ERROR cannot read standard input");
        return ExitCode::from(1);
    }
    let scope = HookScope {
        relation_id: env_opt("JUJU_RELATION_ID"),
        remote_unit: env_opt("JUJU_REMOTE_UNIT"),
        remote_app: env_opt("JUJU_REMOTE_APP"),
    };
    let out = run_tool(
        &mut state,
        &scope,
        &tool,
        &args,
        reads_stdin.then_some(stdin.as_slice()),
    );
    let saved = serde_json::to_vec(&state)
        .map_err(|e| e.to_string())
        .and_then(|bytes| {
            let tmp = format!("{state_path}.tmp");
            std::fs::write(&tmp, bytes).map_err(|e| e.to_string())?;
            std::fs::rename(&tmp, &state_path).map_err(|e| e.to_string())
        });
    if let Err(e) = saved {
        eprintln!("ERROR cannot save the agent state: {e}");
        return ExitCode::from(1);
    }
    let _ = std::io::stdout().write_all(&out.stdout);
    let _ = std::io::stderr().write_all(&out.stderr);
    ExitCode::from(u8::try_from(out.code).unwrap_or(1))
}
