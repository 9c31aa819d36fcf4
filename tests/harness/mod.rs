//! Test harness shared by the integration tests: fakes of what surrounds the charm.
//!
//! Each integration test crate includes this module and uses only part of it, so
//! unused items are expected here rather than dead.
#![allow(dead_code)]

pub mod fake_pebble;
