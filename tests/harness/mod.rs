//! The end-to-end test harness: fake Juju (hook tools on `PATH`) and fake Pebble (a
//! server on the container's unix socket).

pub mod juju;
