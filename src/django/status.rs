//! Readiness and the status precedence of `DJANGO.md` 11, as pure functions of the state.

use crate::django::state::{CharmState, in_order};
use crate::integrations::kind::{IntegrationKind, Order};
use crate::integrations::{Readiness, http_proxy, oauth};

pub const WAITING_FOR_PEBBLE: &str = "Waiting for pebble ready";
pub const WAITING_FOR_PEER: &str = "Waiting for peer integration";
pub const PREPARING: &str = "Preparing service for restart";
pub const NO_DATABASE: &str = "Django requires a database integration to work";
pub const INGRESS_INVALID: &str = "Invalid ingress relation data.";
pub const CHECK_CONFIG_FAILED: &str = "Webserver configuration check failed, please review your charm configuration or database relation";
pub const CONTAINER_NOT_READY: &str = "django-app container is not ready";

/// A row-0 problem found while checking the state (`DJANGO.md` 11 rows 0a–0e).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateProblem {
    pub message: String,
    /// A mandatory option is missing: stop every service and reset migrations.
    pub stop_services: bool,
}

/// Row 0, in order: framework options, ingress data, user options, `paas-config.yaml`,
/// relation data.
pub fn state_problem(state: &CharmState) -> Option<StateProblem> {
    let blocked = |message: String| StateProblem {
        message,
        stop_services: false,
    };
    if let Some(m) = state.config.framework_error() {
        return Some(blocked(m));
    }
    if state.ingress.url.is_invalid() {
        return Some(blocked(INGRESS_INVALID.into()));
    }
    if let Some(m) = state.config.user_error() {
        return Some(StateProblem {
            message: m,
            stop_services: !state.config.missing.is_empty(),
        });
    }
    if let Some(m) = &state.paas_config_error {
        return Some(blocked(m.clone()));
    }
    if let Some(bad) = in_order(&state.integrations, Order::Invalid)
        .into_iter()
        .find(|i| i.env.is_invalid())
    {
        return Some(blocked(format!(
            "Invalid {} relation data.",
            bad.status_name()
        )));
    }
    if state.http_proxy_invalid {
        return Some(blocked(http_proxy::INVALID_MESSAGE.into()));
    }
    None
}

/// Why the reconcile cannot go on (`DJANGO.md` 10 step 1, rows 1–7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotReady {
    Waiting(&'static str),
    /// Required integrations lack data: services stop, migrations reset.
    MissingIntegrations(String),
    Blocked(String),
}

/// Step 1's checks after "Pebble reachable", which the caller checks first.
pub fn readiness(state: &CharmState) -> Result<(), NotReady> {
    if state.peer.secret_key.is_none() {
        return Err(NotReady::Waiting(WAITING_FOR_PEER));
    }
    let missing = missing_integrations(state);
    if !missing.is_empty() {
        return Err(NotReady::MissingIntegrations(format!(
            "missing integrations: {}",
            missing.join(", ")
        )));
    }
    if let Some(o) = &state.oauth {
        match oauth::blocked(&o.data, state.ingress.url.is_ready()) {
            Some(b @ oauth::OAuthBlocked::ClientNotCreated { .. })
            | Some(b @ oauth::OAuthBlocked::IngressRequired) => {
                return Err(NotReady::Blocked(b.message()));
            }
            // Invalid data is reported by the state check (row 0e).
            _ => {}
        }
    }
    if state.oauth_multiple {
        return Err(NotReady::Blocked(oauth::MULTIPLE_ENDPOINTS_MESSAGE.into()));
    }
    let has_database = state
        .integrations
        .iter()
        .any(|i| i.kind == IntegrationKind::Database && i.env.is_ready());
    if !has_database {
        return Err(NotReady::Blocked(NO_DATABASE.into()));
    }
    Ok(())
}

/// Required integrations without usable data, in the spec's order (`INTERFACES.md` 1.2).
pub fn missing_integrations(state: &CharmState) -> Vec<String> {
    in_order(&state.integrations, Order::Missing)
        .into_iter()
        .filter(|i| i.required && !matches!(i.env, Readiness::Ready(_)))
        .map(|i| i.status_name().to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::django::config::ConfigState;
    use crate::django::state::{IngressState, IntegrationState, PeerState};
    use indexmap::IndexMap;

    fn ready_state() -> CharmState {
        CharmState {
            peer: PeerState {
                related: true,
                secret_key: Some("k".into()),
                secret_key_id: None,
                other_units: vec![],
            },
            integrations: vec![IntegrationState {
                kind: IntegrationKind::Database,
                endpoint: "postgresql".into(),
                required: true,
                relation: None,
                env: Readiness::Ready(IndexMap::new()),
            }],
            ..Default::default()
        }
    }

    #[test]
    fn ready() {
        assert_eq!(readiness(&ready_state()), Ok(()));
        assert_eq!(state_problem(&ready_state()), None);
    }

    #[test]
    fn precedence_of_row_zero() {
        let mut s = ready_state();
        s.integrations[0].env = Readiness::Invalid;
        assert_eq!(
            state_problem(&s).unwrap().message,
            "Invalid postgresql relation data."
        );
        s.config.missing = vec!["api-token".into()];
        assert_eq!(
            state_problem(&s),
            Some(StateProblem {
                message: "missing options: api-token".into(),
                stop_services: true
            })
        );
        s.ingress = IngressState {
            relation: None,
            url: Readiness::Invalid,
        };
        assert_eq!(state_problem(&s).unwrap().message, INGRESS_INVALID);
        s.config = ConfigState {
            invalid_framework: vec!["django-secret-key".into()],
            ..Default::default()
        };
        assert_eq!(
            state_problem(&s),
            Some(StateProblem {
                message: "invalid options: django-secret-key".into(),
                stop_services: false
            })
        );
    }

    #[test]
    fn peer_then_missing_then_database() {
        let mut s = ready_state();
        s.integrations.push(IntegrationState {
            kind: IntegrationKind::Database,
            endpoint: "mysql".into(),
            required: true,
            relation: None,
            env: Readiness::NotReady,
        });
        s.integrations[0].env = Readiness::NotReady;
        assert_eq!(
            readiness(&s),
            Err(NotReady::MissingIntegrations(
                "missing integrations: postgresql, mysql".into()
            ))
        );
        s.peer.secret_key = None;
        assert_eq!(readiness(&s), Err(NotReady::Waiting(WAITING_FOR_PEER)));
        let mut s = ready_state();
        s.integrations[0].required = false;
        s.integrations[0].env = Readiness::NotReady;
        assert_eq!(readiness(&s), Err(NotReady::Blocked(NO_DATABASE.into())));
    }
}
