//! [`MemoryPebble`]: the [`Pebble`] trait over a [`PebbleModel`], what the charm's code
//! talks to in unit tests and `simulate`, as it talks to the real client.

use super::*;

/// A [`PebbleModel`] behind the [`Pebble`] trait. With `reachable` false every call
/// fails with [`PebbleError::CannotConnect`], like a container that is not up.
#[derive(Debug, Clone)]
pub struct MemoryPebble {
    pub model: PebbleModel,
    pub reachable: bool,
}

impl MemoryPebble {
    pub fn new(model: PebbleModel) -> Self {
        MemoryPebble {
            model,
            reachable: true,
        }
    }

    fn connect(&self) -> Result<()> {
        if self.reachable {
            Ok(())
        } else {
            Err(PebbleError::CannotConnect {
                socket: PathBuf::from("<memory>"),
                reason: "connection refused".to_string(),
            })
        }
    }

    fn change_result(&self, id: &str) -> Result<Change> {
        let change = self
            .model
            .change(id)
            .ok_or_else(|| PebbleError::Protocol(format!("change {id} vanished")))?;
        match &change.err {
            Some(err) => Err(PebbleError::Change {
                id: id.to_string(),
                err: err.clone(),
                tasks: change
                    .tasks
                    .iter()
                    .map(|t| TaskInfo {
                        kind: t.kind.clone(),
                        summary: t.summary.clone(),
                        status: t.status.clone(),
                    })
                    .collect(),
                output: None,
            }),
            None => Ok(change.summary()),
        }
    }
}

impl Pebble for MemoryPebble {
    fn system_info(&mut self) -> Result<SystemInfo> {
        self.connect()?;
        Ok(self.model.system_info())
    }

    fn get_plan(&mut self) -> Result<Plan> {
        self.connect()?;
        Ok(self.model.plan())
    }

    fn add_layer(&mut self, label: &str, layer: &Layer, combine: bool) -> Result<()> {
        self.connect()?;
        self.model.add_layer(label, layer, combine)
    }

    fn services(&mut self, names: &[String]) -> Result<Vec<ServiceInfo>> {
        self.connect()?;
        Ok(self.model.services(names))
    }

    fn service_action(&mut self, action: ServiceAction, names: &[String]) -> Result<Change> {
        self.connect()?;
        let id = self.model.service_action(action, names)?;
        self.change_result(&id)
    }

    fn push(&mut self, path: &str, content: &[u8], options: &PushOptions) -> Result<()> {
        self.connect()?;
        self.model.write_file(path, content, options)
    }

    fn pull(&mut self, path: &str) -> Result<Vec<u8>> {
        self.connect()?;
        self.model.read_file(path)
    }

    fn list_files(
        &mut self,
        path: &str,
        pattern: Option<&str>,
        itself: bool,
    ) -> Result<Vec<FileInfo>> {
        self.connect()?;
        self.model.list_files(path, pattern, itself)
    }

    fn make_dir(&mut self, path: &str, options: &MakeDirOptions) -> Result<()> {
        self.connect()?;
        self.model.make_dir(path, options)
    }

    fn remove_path(&mut self, path: &str, recursive: bool) -> Result<()> {
        self.connect()?;
        self.model.remove_path(path, recursive)
    }

    fn exec(&mut self, request: &ExecRequest) -> Result<ExecOutput> {
        self.connect()?;
        let (id, output) = self.model.exec(request)?;
        match self.change_result(&id) {
            Err(PebbleError::Change { id, err, tasks, .. }) => Err(PebbleError::Change {
                id,
                err,
                tasks,
                output: Some(Box::new(output)),
            }),
            other => other.map(|_| output),
        }
    }

    fn send_signal(&mut self, signal: &str, services: &[String]) -> Result<()> {
        self.connect()?;
        self.model.send_signal(signal, services)
    }

    fn checks(&mut self, level: Option<&str>, names: &[String]) -> Result<Vec<CheckInfo>> {
        self.connect()?;
        self.model.checks(level, names)
    }
}
