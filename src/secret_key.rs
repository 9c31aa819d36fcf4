//! The application's Django secret key, kept where Juju keeps secrets.
//!
//! The leader generates the key once and stores it in an application-owned Juju secret
//! labelled [`LABEL`], content `{value: <key>}`; the peer application bag publishes only
//! the secret's ID ([`ID_FIELD`]). Every unit reads the key with `secret-get <id>
//! --refresh`, so a rotated key reaches every unit on its next hook.
//!
//! Earlier versions of this charm, and the reference charm, kept the key itself in the
//! peer bag ([`KEY_FIELD`]). The leader moves such a key into a secret **unchanged**
//! ([`migrate`]), or adopts a secret with our label that already exists (the reference's
//! next major version creates one): the key in use never changes on an upgrade. Until
//! the leader has done so, every unit keeps reading the old field.

use crate::juju::context::RelationId;
use crate::juju::tools::{
    Databag, HookTools, SecretContent, SecretOptions, SecretOwner, SecretRead, ToolError,
    bare_secret_id,
};

/// The old layout: the key itself in the peer application bag.
pub const KEY_FIELD: &str = "django_secret_key";
/// The peer application bag key holding the secret's ID.
pub const ID_FIELD: &str = "django_secret_key_id";
/// The label of the secret (unique among the secrets the application owns).
pub const LABEL: &str = "django-secret-key";
/// The secret's description.
pub const DESCRIPTION: &str = "Django SECRET_KEY of this application";
/// The key of the secret's content that holds the Django secret key.
const CONTENT_KEY: &str = "value";

/// Where the peer application bag says the key is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// In the Juju secret with this ID.
    Secret(String),
    /// In the bag itself (the old layout), with this value.
    Field(String),
    /// Nowhere yet.
    Nothing,
}

impl Stored {
    /// Read the bag: a non-empty ID wins over a non-empty old field.
    pub fn of(bag: &Databag) -> Stored {
        let non_empty = |k: &str| bag.get(k).filter(|v| !v.is_empty()).cloned();
        match (non_empty(ID_FIELD), non_empty(KEY_FIELD)) {
            (Some(id), _) => Stored::Secret(id),
            (None, Some(key)) => Stored::Field(key),
            (None, None) => Stored::Nothing,
        }
    }
}

/// The key this hook uses: the secret's latest revision (re-pinning to it), or the old
/// field. `None` when there is none, or the secret is not found or not granted.
pub fn read(tools: &mut HookTools, stored: &Stored) -> Result<Option<String>, ToolError> {
    Ok(match stored {
        Stored::Secret(id) => tools
            .secret_get(Some(id), None, SecretRead::Refresh)?
            .and_then(|mut content| content.shift_remove(CONTENT_KEY))
            .filter(|k| !k.is_empty()),
        Stored::Field(key) => Some(key.clone()),
        Stored::Nothing => None,
    })
}

fn content(key: &str) -> SecretContent {
    [(CONTENT_KEY.to_string(), key.to_string())]
        .into_iter()
        .collect()
}

/// The ID of the secret the application owns under [`LABEL`], if any.
pub fn find(tools: &mut HookTools) -> Result<Option<String>, ToolError> {
    Ok(tools
        .secret_info_get(None, Some(LABEL))?
        .map(|info| format!("secret:{}", bare_secret_id(&info.id))))
}

/// A new secret holding `key`; when a secret with our label already exists (the add is
/// refused), that one: `(id, adopted)`. Never a second secret with the label.
pub fn create(tools: &mut HookTools, key: &str) -> Result<(String, bool), ToolError> {
    let options = SecretOptions {
        owner: SecretOwner::Application,
        label: Some(LABEL.into()),
        description: Some(DESCRIPTION.into()),
        ..SecretOptions::default()
    };
    match tools.secret_add(&content(key), &options) {
        Ok(id) => Ok((id, false)),
        Err(e) if label_taken(&e) => match find(tools)? {
            Some(id) => Ok((id, true)),
            None => Err(e),
        },
        Err(e) => Err(e),
    }
}

/// Juju refuses `secret-add` with a label the owner already uses.
fn label_taken(e: &ToolError) -> bool {
    matches!(e, ToolError::Failed { stderr, .. } if stderr.contains("already exists"))
}

/// A new revision of the secret `id` holding `key`.
pub fn set(tools: &mut HookTools, id: &str, key: &str) -> Result<(), ToolError> {
    tools.secret_set(id, Some(&content(key)), &SecretOptions::default())
}

/// Publish the secret's ID in the peer application bag, deleting the old field if the
/// bag has it.
pub fn publish(
    tools: &mut HookTools,
    rel: &RelationId,
    bag: &Databag,
    id: &str,
) -> Result<(), ToolError> {
    let mut data: Databag = [(ID_FIELD.to_string(), id.to_string())]
        .into_iter()
        .collect();
    if bag.contains_key(KEY_FIELD) {
        // An empty value deletes the key.
        data.insert(KEY_FIELD.to_string(), String::new());
    }
    tools.relation_set(rel, &data, true)
}

/// What [`migrate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    /// The secret's ID, now published.
    pub id: String,
    /// The key, when the migration knows it (it moved the old field's value); `None`
    /// when it adopted an existing secret, whose value is read like any other.
    pub key: Option<String>,
}

/// On the leader, when the bag has no ID: adopt the secret labelled [`LABEL`] if it
/// exists (the old field, if any, is deleted unused), else move the old field's value
/// into a new secret. `None` when there was nothing to do.
pub fn migrate(
    tools: &mut HookTools,
    rel: &RelationId,
    bag: &Databag,
) -> Result<Option<Migrated>, ToolError> {
    let migrated = match Stored::of(bag) {
        Stored::Secret(_) => return Ok(None),
        stored => match (find(tools)?, stored) {
            (Some(id), _) => Migrated { id, key: None },
            (None, Stored::Field(key)) => {
                let (id, adopted) = create(tools, &key)?;
                Migrated {
                    id,
                    key: (!adopted).then_some(key),
                }
            }
            (None, _) => return Ok(None),
        },
    };
    publish(tools, rel, bag, &migrated.id)?;
    Ok(Some(migrated))
}

/// Whether `event_id` (as `JUJU_SECRET_ID` gives it, perhaps with the model in it) and
/// `ours` name the same secret.
pub fn same_secret(event_id: &str, ours: &str) -> bool {
    bare_secret_id(event_id) == bare_secret_id(ours)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::juju::{JujuState, MemoryJuju, RelationState, SecretState, bag};

    fn leader(bag_data: &[(&str, &str)], secrets: Vec<SecretState>) -> HookTools<MemoryJuju> {
        let state = JujuState {
            unit: "django-k8s/0".into(),
            leader: true,
            relations: vec![
                RelationState::new(0, "secret-storage", "django-k8s").local_app_data(bag(bag_data)),
            ],
            secrets,
            ..JujuState::default()
        };
        HookTools::new(MemoryJuju::new(state, Default::default()))
    }

    fn owned(id: &str, key: &str) -> SecretState {
        let mut s = SecretState::new(id, bag(&[("value", key)]));
        s.owner = Some("application".into());
        s.label = Some(LABEL.into());
        s
    }

    fn peer_bag(tools: &HookTools<MemoryJuju>) -> Databag {
        tools.runner().state.relations[0].local_app_data.clone()
    }

    #[test]
    fn the_bag_says_where_the_key_is() {
        assert_eq!(
            Stored::of(&bag(&[(ID_FIELD, "secret:x"), (KEY_FIELD, "k")])),
            Stored::Secret("secret:x".into())
        );
        assert_eq!(
            Stored::of(&bag(&[(ID_FIELD, ""), (KEY_FIELD, "k")])),
            Stored::Field("k".into())
        );
        assert_eq!(Stored::of(&bag(&[(KEY_FIELD, "")])), Stored::Nothing);
    }

    #[test]
    fn the_old_field_moves_into_a_new_secret_unchanged() {
        let mut tools = leader(&[(KEY_FIELD, "old-key")], vec![]);
        let rel = RelationId::new("secret-storage", 0);
        let bag_before = peer_bag(&tools);
        let m = migrate(&mut tools, &rel, &bag_before).unwrap().unwrap();
        assert_eq!(m.key.as_deref(), Some("old-key"));
        let secrets = &tools.runner().state.secrets;
        assert_eq!(secrets.len(), 1);
        assert_eq!(secrets[0].revisions, vec![bag(&[("value", "old-key")])]);
        assert_eq!(secrets[0].label.as_deref(), Some(LABEL));
        assert_eq!(secrets[0].description.as_deref(), Some(DESCRIPTION));
        assert_eq!(secrets[0].owner.as_deref(), Some("application"));
        assert_eq!(peer_bag(&tools), bag(&[(ID_FIELD, &m.id)]));
        let stored = Stored::of(&peer_bag(&tools));
        assert_eq!(
            read(&mut tools, &stored).unwrap().as_deref(),
            Some("old-key")
        );
    }

    #[test]
    fn an_existing_labelled_secret_is_adopted_and_the_old_field_dropped_unused() {
        let mut tools = leader(&[(KEY_FIELD, "stale")], vec![owned("secret:abc", "in-use")]);
        let rel = RelationId::new("secret-storage", 0);
        let bag_before = peer_bag(&tools);
        let m = migrate(&mut tools, &rel, &bag_before).unwrap().unwrap();
        assert_eq!(
            m,
            Migrated {
                id: "secret:abc".into(),
                key: None
            }
        );
        assert_eq!(peer_bag(&tools), bag(&[(ID_FIELD, "secret:abc")]));
        let secrets = &tools.runner().state.secrets;
        assert_eq!(secrets.len(), 1);
        assert_eq!(secrets[0].revisions, vec![bag(&[("value", "in-use")])]);
    }

    #[test]
    fn nothing_to_migrate_without_a_key_or_with_an_id() {
        let rel = RelationId::new("secret-storage", 0);
        for data in [vec![], vec![(ID_FIELD, "secret:x"), (KEY_FIELD, "k")]] {
            let mut tools = leader(&data, vec![]);
            let before = peer_bag(&tools);
            assert_eq!(migrate(&mut tools, &rel, &before).unwrap(), None);
            assert_eq!(peer_bag(&tools), before);
            assert!(tools.runner().state.secrets.is_empty());
        }
    }

    #[test]
    fn a_refused_add_because_of_the_label_adopts_the_existing_secret() {
        let mut tools = leader(&[], vec![owned("secret:abc", "in-use")]);
        let (id, adopted) = create(&mut tools, "new").unwrap();
        assert_eq!((id.as_str(), adopted), ("secret:abc", true));
        assert_eq!(tools.runner().state.secrets.len(), 1);
    }

    #[test]
    fn secret_ids_compare_bare() {
        assert!(same_secret("secret://0f1e/abc", "secret:abc"));
        assert!(same_secret("abc", "secret:abc"));
        assert!(!same_secret("secret:abd", "secret:abc"));
    }
}
