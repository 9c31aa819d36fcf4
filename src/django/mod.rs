//! The Django rules of the charm, as pure functions of the gathered state: the
//! configuration ([`config`]), custom actions ([`custom_action`]), the environment
//! ([`mod@env`]), the Pebble layer ([`layer`]), `gunicorn.conf.py` and the worker class ([`gunicorn`]), migrations
//! ([`migrations`]), what a failed workload command logs ([`failure_log`]),
//! `paas-config.yaml` ([`paas_config`]) and the statuses ([`status`]), all over the
//! snapshot of one hook ([`mod@state`]).

pub mod config;
pub mod custom_action;
pub mod env;
pub mod failure_log;
pub mod gunicorn;
pub mod layer;
pub mod migrations;
pub mod paas_config;
pub mod pack_check;
pub mod state;
pub mod status;
