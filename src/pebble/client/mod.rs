//! The real [`Pebble`]: Pebble's HTTP API over the workload container's unix socket
//! (`CONTRACT.md` D, E, F).
//!
//! The charm is a short-lived, single-threaded program, so the client is synchronous on
//! the outside and holds its own current-thread tokio runtime, `block_on`-ing async
//! reqwest calls and, for exec, tokio-tungstenite websockets on fresh unix connections.
//! Behaviour mirrors the Python `ops` client where the contract is silent: 5 s per
//! request, long-poll change waits one second shorter than that, and the same fallbacks
//! for old Pebble versions (polling changes, restart as stop + start).
//!
//! The client is split by concern. This module holds the client itself (its socket,
//! runtime and HTTP connection settings) and the [`Pebble`] impl, whose methods only
//! `block_on` the async calls of the other modules: `transport` sends a request and
//! decodes Pebble's envelope, `services` makes the calls that start no change (system
//! info, plan, layers, service and check listings, signals), `changes` runs service
//! actions and waits for changes, `files` speaks the files API, and `exec` runs a command
//! over its websockets.

mod changes;
mod exec;
mod files;
mod services;
#[cfg(test)]
mod test_server;
mod transport;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::header::{ACCEPT, HeaderMap, HeaderValue};
use url::Url;

use super::{
    Change, CheckInfo, ExecOutput, ExecRequest, FileInfo, Layer, MakeDirOptions, Pebble,
    PebbleError, Plan, PushOptions, Result, ServiceAction, ServiceInfo, SystemInfo,
};
use transport::error_chain;

/// Per-request timeout (ops' default).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// A Pebble client bound to one container's API socket.
pub struct PebbleClient {
    socket: PathBuf,
    base_url: Url,
    http: reqwest::Client,
    runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for PebbleClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PebbleClient")
            .field("socket", &self.socket)
            .finish_non_exhaustive()
    }
}

impl PebbleClient {
    /// A client for the Pebble listening on `socket`. Nothing is connected yet: a missing
    /// socket shows up as [`PebbleError::CannotConnect`] on the first call.
    pub fn new(socket: PathBuf) -> Result<Self> {
        let setup_error = |what: &str, e: &dyn std::error::Error| PebbleError::CannotConnect {
            socket: socket.clone(),
            reason: format!("cannot set up the {what}: {}", error_chain(e)),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| setup_error("async runtime", &e))?;
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let http = reqwest::Client::builder()
            .unix_socket(socket.as_path())
            .default_headers(headers)
            .timeout(REQUEST_TIMEOUT)
            // A fresh connection per request, as ops does. The runtime only runs inside
            // `block_on`, so a pooled keep-alive connection never notices Pebble closing
            // it between calls (the daemon restarting with its container); reusing it
            // fails the next request with a broken pipe, reported as "cannot connect"
            // although the new daemon is up. Connecting to a unix socket costs nothing.
            .pool_max_idle_per_host(0)
            .build()
            .map_err(|e| setup_error("HTTP client", &e))?;
        let base_url = Url::parse("http://localhost").map_err(|e| setup_error("base URL", &e))?;
        Ok(PebbleClient {
            socket,
            base_url,
            http,
            runtime,
        })
    }

    /// The client of container `name`, whose socket Juju mounts at
    /// `<containers_dir>/<name>/pebble.socket`.
    pub fn for_container(containers_dir: &Path, name: &str) -> Result<Self> {
        Self::new(containers_dir.join(name).join("pebble.socket"))
    }

    /// The socket this client talks to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    fn cannot_connect(&self, reason: String) -> PebbleError {
        PebbleError::CannotConnect {
            socket: self.socket.clone(),
            reason,
        }
    }

    /// The socket is checked first because a missing socket is the normal state of a
    /// container that is not up yet, and deserves a clear "cannot connect".
    fn check_socket(&self) -> Result<()> {
        match self.socket.try_exists() {
            Ok(true) => Ok(()),
            Ok(false) => Err(self.cannot_connect("socket does not exist".to_string())),
            Err(e) => Err(self.cannot_connect(format!("cannot stat socket: {e}"))),
        }
    }
}

impl Pebble for PebbleClient {
    fn system_info(&mut self) -> Result<SystemInfo> {
        self.block_on(self.system_info_async())
    }

    fn get_plan(&mut self) -> Result<Plan> {
        self.block_on(self.get_plan_async())
    }

    fn add_layer(&mut self, label: &str, layer: &Layer, combine: bool) -> Result<()> {
        self.block_on(self.add_layer_async(label, layer, combine))
    }

    fn services(&mut self, names: &[String]) -> Result<Vec<ServiceInfo>> {
        self.block_on(self.services_async(names))
    }

    fn service_action(&mut self, action: ServiceAction, names: &[String]) -> Result<Change> {
        self.block_on(self.service_action_async(action, names))
    }

    fn push(&mut self, path: &str, content: &[u8], options: &PushOptions) -> Result<()> {
        self.block_on(self.push_async(path, content, options))
    }

    fn pull(&mut self, path: &str) -> Result<Vec<u8>> {
        self.block_on(self.pull_async(path))
    }

    fn list_files(
        &mut self,
        path: &str,
        pattern: Option<&str>,
        itself: bool,
    ) -> Result<Vec<FileInfo>> {
        self.block_on(self.list_files_async(path, pattern, itself))
    }

    fn make_dir(&mut self, path: &str, options: &MakeDirOptions) -> Result<()> {
        self.block_on(self.make_dir_async(path, options))
    }

    fn remove_path(&mut self, path: &str, recursive: bool) -> Result<()> {
        self.block_on(self.remove_path_async(path, recursive))
    }

    fn exec(&mut self, request: &ExecRequest) -> Result<ExecOutput> {
        self.block_on(self.exec_async(request))
    }

    fn send_signal(&mut self, signal: &str, services: &[String]) -> Result<()> {
        self.block_on(self.send_signal_async(signal, services))
    }

    fn checks(&mut self, level: Option<&str>, names: &[String]) -> Result<Vec<CheckInfo>> {
        self.block_on(self.checks_async(level, names))
    }
}

#[cfg(test)]
mod tests {
    //! The client's own checks, before any request: where the socket is, and that a
    //! missing one is "cannot connect".

    use super::*;

    #[test]
    fn a_missing_socket_cannot_connect() {
        let dir = tempfile::tempdir().unwrap();
        let mut client = PebbleClient::for_container(dir.path(), "django-app").unwrap();
        assert_eq!(
            client.socket(),
            dir.path().join("django-app").join("pebble.socket")
        );
        let err = client.system_info().unwrap_err();
        assert!(
            matches!(&err, PebbleError::CannotConnect { socket, .. } if socket == client.socket()),
            "{err}"
        );
        assert!(!client.can_connect());
    }
}
