//! The Django rules of the charm, as pure functions of the gathered state: the
//! configuration ([`config`]), the environment ([`env`]), the Pebble layer ([`layer`]).

pub mod config;
pub mod env;
pub mod gunicorn;
pub mod layer;
pub mod migrations;
pub mod paas_config;
pub mod status;
