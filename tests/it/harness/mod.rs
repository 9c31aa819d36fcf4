//! The end-to-end test harness: fake Juju (hook tools on `PATH`) and fake Pebble (a
//! server on the container's unix socket speaking the real wire protocol), the
//! two-mode [`world::World`]. The bench (`benches/hooks.rs`) borrows it too, so the
//! fixtures of the tests live apart, in `fixtures`.

pub mod fake_pebble;
pub mod juju;
pub mod world;
