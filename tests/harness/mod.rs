//! The end-to-end test harness: fake Juju (hook tools on `PATH`) and fake Pebble (a
//! server on the container's unix socket speaking the real wire protocol).

#![allow(dead_code)]

pub mod fake_pebble;
pub mod juju;
pub mod scenario;
pub mod world;
