//! The end-to-end harness on the Juju side: a directory laid out like the packed charm
//! (`dispatch`, `bin/`, generated `metadata.yaml`, `config.yaml`, `actions.yaml`), the
//! fake hook tools first on `PATH`, and a runner that executes `dispatch` with the
//! environment a unit agent constructs (`CONTRACT.md` A.2, A.4).
//!
//! Like Juju, the harness commits what a hook buffered (relation data, ports, secrets)
//! only when the hook exits 0.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use django_charm::juju::metadata::CharmMeta;
use django_charm::sim::Simulation;
use django_charm::sim::juju::{JujuState, option_defaults};
use serde_json::Value;

/// The hook tools linked to the fake binary.
pub const TOOLS: &[&str] = &[
    "config-get",
    "relation-ids",
    "relation-list",
    "relation-get",
    "relation-set",
    "relation-model-get",
    "is-leader",
    "status-set",
    "status-get",
    "juju-log",
    "open-port",
    "close-port",
    "opened-ports",
    "network-get",
    "goal-state",
    "secret-get",
    "secret-add",
    "secret-set",
    "secret-ids",
    "secret-info-get",
    "secret-grant",
    "secret-revoke",
    "secret-remove",
    "action-get",
    "action-set",
    "action-fail",
    "action-log",
    "application-version-set",
    "state-get",
    "state-set",
    "state-delete",
];

/// The repository's own `charmcraft.yaml`.
pub fn repo_charmcraft() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("charmcraft.yaml"))
        .expect("charmcraft.yaml in the repository")
}

/// What one hook run produced.
#[derive(Debug)]
pub struct HookRun {
    pub code: i32,
    pub stderr: String,
    pub elapsed: Duration,
}

/// A unit of a charm under test.
pub struct JujuHarness {
    pub root: tempfile::TempDir,
    pub state: JujuState,
    pub model_name: String,
    pub juju_version: String,
    /// Extra variables for every hook (e.g. `JUJU_CHARM_HTTP_PROXY`).
    pub extra_env: Vec<(String, String)>,
    hook_count: u64,
}

impl JujuHarness {
    /// A packed charm built from `charmcraft_yaml`, unit `<name>/0`, leader.
    pub fn new(charmcraft_yaml: &str) -> JujuHarness {
        let root = tempfile::tempdir().expect("temp dir");
        let charm = root.path().join("charm");
        std::fs::create_dir_all(charm.join("bin")).unwrap();
        let project: Value =
            serde_saphyr::from_str(charmcraft_yaml).expect("charmcraft.yaml parses");
        pack(&project, &charm);
        let tools = root.path().join("tools");
        std::fs::create_dir_all(&tools).unwrap();
        let fake = env!("CARGO_BIN_EXE_fake-juju-tool");
        for tool in TOOLS {
            std::os::unix::fs::symlink(fake, tools.join(tool)).unwrap();
        }
        std::fs::create_dir_all(root.path().join("containers")).unwrap();
        let name = project["name"].as_str().unwrap_or("django-k8s").to_string();
        // The model, Juju and leadership of `simulate`'s default state.
        let defaults = Simulation::default();
        // Like Juju, `config-get` answers with the defaults of the options not set.
        let meta = CharmMeta::from_charmcraft_yaml(charmcraft_yaml).expect("charmcraft.yaml reads");
        let state = JujuState {
            unit: format!("{name}/0"),
            config_defaults: option_defaults(&meta),
            ..defaults.juju
        };
        JujuHarness {
            root,
            state,
            model_name: defaults.model,
            juju_version: defaults.juju_version,
            extra_env: vec![],
            hook_count: 0,
        }
    }

    pub fn charm_dir(&self) -> PathBuf {
        self.root.path().join("charm")
    }

    /// Where a container's Pebble socket goes (`$CHARM_CONTAINERS_DIR/NAME/pebble.socket`).
    pub fn socket_path(&self, container: &str) -> PathBuf {
        self.root
            .path()
            .join("containers")
            .join(container)
            .join("pebble.socket")
    }

    fn state_path(&self) -> PathBuf {
        self.root.path().join("agent-state.json")
    }

    /// Run `dispatch` for `path` (`hooks/config-changed`, `actions/create-superuser`)
    /// with the event's extra variables.
    pub fn run(&mut self, path: &str, event_env: &[(&str, &str)]) -> HookRun {
        self.hook_count += 1;
        let before = self.state.clone();
        std::fs::write(self.state_path(), serde_json::to_vec(&self.state).unwrap()).unwrap();
        let charm = self.charm_dir();
        let hook_name = if path.starts_with("actions/") {
            ""
        } else {
            path.rsplit('/').next().unwrap_or(path)
        };
        let tools = self.root.path().join("tools");
        let mut cmd = Command::new(charm.join("dispatch"));
        cmd.env_clear()
            .current_dir(&charm)
            .stdin(Stdio::null())
            // A hook writes nothing to stdout: its logs go to `juju-log` and stderr.
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let context_id = format!("{}-{}-{}", self.state.unit, hook_name, self.hook_count);
        let mut env: Vec<(String, String)> = vec![
            ("JUJU_DISPATCH_PATH".into(), path.into()),
            ("JUJU_HOOK_NAME".into(), hook_name.into()),
            ("JUJU_UNIT_NAME".into(), self.state.unit.clone()),
            ("JUJU_MODEL_NAME".into(), self.model_name.clone()),
            ("JUJU_MODEL_UUID".into(), self.state.model_uuid.clone()),
            ("JUJU_VERSION".into(), self.juju_version.clone()),
            ("JUJU_CHARM_DIR".into(), charm.display().to_string()),
            ("CHARM_DIR".into(), charm.display().to_string()),
            ("JUJU_CONTEXT_ID".into(), context_id),
            (
                "JUJU_AGENT_SOCKET_ADDRESS".into(),
                self.state_path().display().to_string(),
            ),
            ("JUJU_AGENT_SOCKET_NETWORK".into(), "unix".into()),
            ("JUJU_API_ADDRESSES".into(), "10.0.0.1:17070".into()),
            ("JUJU_MACHINE_ID".into(), String::new()),
            ("JUJU_PRINCIPAL_UNIT".into(), String::new()),
            ("JUJU_AVAILABILITY_ZONE".into(), String::new()),
            ("CLOUD_API_VERSION".into(), "1.29.0".into()),
            ("JUJU_CHARM_HTTP_PROXY".into(), String::new()),
            ("JUJU_CHARM_HTTPS_PROXY".into(), String::new()),
            ("JUJU_CHARM_FTP_PROXY".into(), String::new()),
            ("JUJU_CHARM_NO_PROXY".into(), String::new()),
            (
                "PATH".into(),
                format!("{}:/usr/local/bin:/usr/bin:/bin", tools.display()),
            ),
            ("LANG".into(), "C.UTF-8".into()),
            ("TERM".into(), "tmux-256color".into()),
            (
                "CHARM_CONTAINERS_DIR".into(),
                self.root.path().join("containers").display().to_string(),
            ),
        ];
        env.extend(self.extra_env.iter().cloned());
        env.extend(
            event_env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        for (k, v) in &env {
            cmd.env(k, v);
        }
        let start = Instant::now();
        let out = run_retrying_busy(&mut cmd);
        let elapsed = start.elapsed();
        let mut after: JujuState =
            serde_json::from_slice(&std::fs::read(self.state_path()).unwrap()).unwrap();
        let code = out.status.code().unwrap_or(-1);
        after.end_hook(&before, code);
        self.state = after;
        HookRun {
            code,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            elapsed,
        }
    }

    /// Run a relation hook for relation `endpoint` (which must be in the state).
    pub fn run_relation(
        &mut self,
        endpoint: &str,
        kind: &str,
        remote_unit: Option<&str>,
    ) -> HookRun {
        let rel = self
            .state
            .relation(endpoint)
            .expect("relation in state")
            .clone();
        let id = format!("{}:{}", rel.endpoint, rel.id);
        let path = format!("hooks/{endpoint}-relation-{kind}");
        let departing = if kind == "departed" {
            remote_unit.unwrap_or("")
        } else {
            ""
        };
        let mut env = vec![
            ("JUJU_RELATION", endpoint),
            ("JUJU_RELATION_ID", id.as_str()),
            ("JUJU_REMOTE_UNIT", remote_unit.unwrap_or("")),
            ("JUJU_REMOTE_APP", rel.remote_app.as_str()),
        ];
        if kind == "departed" {
            env.push(("JUJU_DEPARTING_UNIT", departing));
        }
        self.run(&path, &env)
    }
}

/// Lay out the packed charm: what charmcraft would put in the `.charm` file.
fn pack(project: &Value, charm: &Path) {
    for (name, v) in generated_files(project) {
        // JSON is YAML: the charm reads these files with a YAML parser.
        std::fs::write(charm.join(name), serde_json::to_string_pretty(&v).unwrap()).unwrap();
    }
    link_charm_under_test(charm);
}

/// The `metadata.yaml`, `config.yaml` and `actions.yaml` charmcraft generates from a
/// project's `charmcraft.yaml`, as values.
pub fn generated_files(project: &Value) -> [(&'static str, Value); 3] {
    let mut metadata = serde_json::Map::new();
    for key in [
        "name",
        "summary",
        "description",
        "assumes",
        "containers",
        "resources",
        "peers",
        "provides",
        "requires",
        "storage",
    ] {
        if let Some(v) = project.get(key) {
            metadata.insert(key.into(), v.clone());
        }
    }
    let options = project
        .get("config")
        .and_then(|c| c.get("options"))
        .cloned()
        .unwrap_or(Value::Object(Default::default()));
    let actions = project
        .get("actions")
        .cloned()
        .unwrap_or(Value::Object(Default::default()));
    [
        ("metadata.yaml", Value::Object(metadata)),
        ("config.yaml", serde_json::json!({ "options": options })),
        ("actions.yaml", actions),
    ]
}

/// Link `dispatch` and `bin/django-k8s-charm` of the charm under test into `charm`.
fn link_charm_under_test(charm: &Path) {
    let under_test = charm_under_test();
    // A link, not a copy: writing an executable while other tests fork can make its
    // exec fail with ETXTBSY.
    std::os::unix::fs::symlink(&under_test.dispatch, charm.join("dispatch")).unwrap();
    std::os::unix::fs::symlink(
        &under_test.binary,
        charm.join("bin").join("django-k8s-charm"),
    )
    .unwrap();
}

/// The variable naming a charm unpacked from the `.charm` that `charmcraft pack` made.
pub const PACKED_CHARM_DIR: &str = "PACKED_CHARM_DIR";

/// The executables every end-to-end test runs.
pub struct CharmUnderTest {
    pub dispatch: PathBuf,
    pub binary: PathBuf,
}

/// This checkout's `dispatch` and the binary cargo built, or, when `PACKED_CHARM_DIR` is
/// set (CI's real-pack step), the `dispatch` and `bin/django-k8s-charm` of that packed
/// charm: the same tests then judge what users deploy.
pub fn charm_under_test() -> CharmUnderTest {
    match std::env::var_os(PACKED_CHARM_DIR).filter(|d| !d.is_empty()) {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            let under_test = CharmUnderTest {
                dispatch: dir.join("dispatch"),
                binary: dir.join("bin").join("django-k8s-charm"),
            };
            for f in [&under_test.dispatch, &under_test.binary] {
                assert!(f.is_file(), "{PACKED_CHARM_DIR}: no {}", f.display());
            }
            under_test
        }
        None => CharmUnderTest {
            dispatch: Path::new(env!("CARGO_MANIFEST_DIR")).join("dispatch"),
            binary: PathBuf::from(env!("CARGO_BIN_EXE_django-k8s-charm")),
        },
    }
}

/// Run `cmd`, retrying while the executable is "busy": a test that has just written an
/// executable can race another test's fork, which briefly holds the file open.
fn run_retrying_busy(cmd: &mut Command) -> std::process::Output {
    const ETXTBSY: i32 = 26;
    for _ in 0..50 {
        match cmd.output() {
            Err(e) if e.raw_os_error() == Some(ETXTBSY) => {
                std::thread::sleep(Duration::from_millis(20))
            }
            other => return other.expect("dispatch runs"),
        }
    }
    cmd.output().expect("dispatch runs")
}
