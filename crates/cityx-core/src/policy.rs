//! Who may do what. Handlers, the CLI and the web UI ask these functions; the repository
//! layer independently restricts every tenant query to [`Actor::tenant_scope`], so a missed
//! check here still cannot reach another station's rows.
//!
//! | action                         | hub_admin | hub_editor | station_admin      | editor / viewer |
//! |--------------------------------|-----------|------------|--------------------|-----------------|
//! | create / update stations       | yes       | no         | no                 | no              |
//! | read stations                  | all       | all        | own                | own             |
//! | read users                     | all       | all        | own station        | only self       |
//! | create / change users          | all       | no         | own station, station roles | no      |
//! | own tokens                     | yes       | yes        | yes                | yes             |
//! | revoke others' tokens          | all       | no         | own station        | no              |
//! | read the audit log             | all       | no         | own station        | no              |
//! | upload items                   | no        | no         | own station        | editor: own station |
//! | delete / restore items, rights | all       | no         | own station        | editor: own station |
//! | search, preview items          | all       | all        | visible to station | visible to station |
//! | adopt items                    | no        | no         | others' visible    | editor: others' visible |
//! | correct / withdraw items       | all       | no         | own station        | editor: own station |
//! | acknowledge notices            | no        | no         | own station's      | editor: own station's |
//! | member feed                    | all       | all        | visible to station | visible to station |
//! | network statistics             | yes       | yes        | no                 | no              |
//! | create / change topic zones    | yes       | yes        | no                 | no              |
//! | contribute to zones            | no        | no         | own items          | editor: own items |
//! | webhooks (create: station admins) | all, not create | no   | own station        | no              |
//! | follow zones, keywords, stations | own          | own        | own                | own             |
//! | see, stop, start processes     | all       | no         | own station        | no              |
//! | periodic tasks, dead jobs      | yes       | no         | no                 | no              |
//! | live channels: create, change, keys | all, not create | no | own station        | no              |
//! | clip a live channel into an item | yes    | yes        | own station's      | editor: own station's |
//! | watch live channels            | all       | all        | shared with station | shared with station |
//!
//! Token scopes narrow this further: `read` for reading, `admin` for anything in the
//! "create / change" rows.

use crate::ids::{StationId, UserId};
use crate::model::{Actor, Role, Scope, ScopeSet, TenantScope};
use crate::validate::FieldError;

/// Why an action is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denied {
    /// The credential lacks a scope (the role might allow it with another token).
    MissingScope(Scope),
    /// The role does not allow it.
    NotPermitted,
}

pub type Decision = Result<(), Denied>;

pub fn require_scope(actor: &Actor, scope: Scope) -> Decision {
    if actor.scopes.contains(scope) {
        Ok(())
    } else {
        Err(Denied::MissingScope(scope))
    }
}

fn allow_if(cond: bool) -> Decision {
    if cond {
        Ok(())
    } else {
        Err(Denied::NotPermitted)
    }
}

/// Read access of any kind.
pub fn read(actor: &Actor) -> Decision {
    require_scope(actor, Scope::Read)
}

/// Operating the platform (dead jobs, re-runs): hub admins only.
pub fn operate(actor: &Actor) -> Decision {
    manage_stations(actor)
}

/// Create or update stations.
pub fn manage_stations(actor: &Actor) -> Decision {
    allow_if(actor.role == Role::HubAdmin)?;
    require_scope(actor, Scope::Admin)
}

/// List users beyond oneself.
pub fn list_users(actor: &Actor) -> Decision {
    allow_if(matches!(
        actor.role,
        Role::HubAdmin | Role::HubEditor | Role::StationAdmin
    ))?;
    read(actor)
}

/// Read one user.
pub fn read_user(actor: &Actor, target: UserId) -> Decision {
    if actor.user_id == Some(target) {
        return read(actor);
    }
    list_users(actor)
}

/// Whether the actor may put a user with `role` into `station` (create, or change role or
/// station), or change anything else about a user who is there.
pub fn manage_user(actor: &Actor, station: Option<StationId>, role: Role) -> Decision {
    let ok = match actor.role {
        Role::HubAdmin => true,
        Role::StationAdmin => !role.is_hub() && station.is_some() && station == actor.station_id,
        _ => false,
    };
    allow_if(ok)?;
    require_scope(actor, Scope::Admin)
}

/// Revoke or list the tokens of a user who belongs to `station`.
pub fn manage_tokens_of(actor: &Actor, owner: UserId, station: Option<StationId>) -> Decision {
    if actor.user_id == Some(owner) {
        return Ok(());
    }
    let ok = match actor.role {
        Role::HubAdmin => true,
        Role::StationAdmin => station.is_some() && station == actor.station_id,
        _ => false,
    };
    allow_if(ok)?;
    require_scope(actor, Scope::Admin)
}

/// Which tokens the actor may list: `None` = only their own.
pub fn token_listing_scope(actor: &Actor) -> Option<TenantScope> {
    match actor.role {
        Role::HubAdmin | Role::StationAdmin if actor.scopes.contains(Scope::Admin) => {
            Some(actor.tenant_scope())
        }
        _ => None,
    }
}

/// Change one's own credentials (the password): through a web session (whatever the role),
/// or with a token that has the `admin` scope. A `read` or `write` token that leaks must not
/// become a password oracle.
pub fn change_own_credentials(actor: &Actor) -> Decision {
    if actor.token_id.is_none() {
        return Ok(());
    }
    require_scope(actor, Scope::Admin)
}

/// A new token may carry at most the scopes of the credential that creates it.
pub fn grant_scopes(actor: &Actor, requested: ScopeSet) -> Decision {
    allow_if(!requested.is_empty() && requested.is_subset_of(actor.scopes))
}

/// Contribute items: station editors and admins, with the `write` scope. Hub users
/// contribute through a station account.
pub fn contribute(actor: &Actor) -> Decision {
    allow_if(
        matches!(actor.role, Role::StationAdmin | Role::Editor) && actor.station_id.is_some(),
    )?;
    require_scope(actor, Scope::Write)
}

/// Delete or restore items: hub admins anywhere, station editors and admins in their own
/// station (the repository keeps them there), with the `write` scope.
pub fn manage_items(actor: &Actor) -> Decision {
    allow_if(matches!(
        actor.role,
        Role::HubAdmin | Role::StationAdmin | Role::Editor
    ))?;
    require_scope(actor, Scope::Write)
}

/// Adopt other stations' items for one's own station: station editors and admins, with the
/// `write` scope. Viewers look; the hub has no station to adopt for.
pub fn adopt(actor: &Actor) -> Decision {
    contribute(actor)
}

/// Create and change topic zones: the hub's roles, with the `write` scope.
pub fn manage_zones(actor: &Actor) -> Decision {
    allow_if(matches!(actor.role, Role::HubAdmin | Role::HubEditor))?;
    require_scope(actor, Scope::Write)
}

/// Read and delete webhooks and retry their deliveries: station admins for their station,
/// hub admins for any (creating one needs a station: [`create_webhook`]), with `admin`.
pub fn manage_webhooks(actor: &Actor) -> Decision {
    allow_if(matches!(actor.role, Role::HubAdmin | Role::StationAdmin))?;
    require_scope(actor, Scope::Admin)
}

/// Create a webhook: station admins, for their own station.
pub fn create_webhook(actor: &Actor) -> Result<StationId, Denied> {
    manage_webhooks(actor)?;
    match (actor.role, actor.station_id) {
        (Role::StationAdmin, Some(s)) => Ok(s),
        _ => Err(Denied::NotPermitted),
    }
}

/// See supervised processes (their state and log): station admins their station's, hub
/// admins all.
pub fn watch_processes(actor: &Actor) -> Decision {
    allow_if(matches!(actor.role, Role::HubAdmin | Role::StationAdmin))?;
    read(actor)
}

/// Stop and start supervised processes: as [`watch_processes`], with the `admin` scope.
pub fn steer_processes(actor: &Actor) -> Decision {
    watch_processes(actor)?;
    require_scope(actor, Scope::Admin)
}

/// Change and delete live channels and see or rotate their stream keys: station admins for
/// their station, hub admins for any (creating one needs a station: [`create_channel`]), with
/// `admin`.
pub fn manage_channels(actor: &Actor) -> Decision {
    manage_webhooks(actor)
}

/// Create a live channel: station admins, for their own station.
pub fn create_channel(actor: &Actor) -> Result<StationId, Denied> {
    create_webhook(actor)
}

/// Make an item of a station from what it already has (a clip of its live channel, a
/// recording): that station's editors and admins, or the hub's roles (which run the
/// network's broadcasts), with the `write` scope.
pub fn make_items_for(actor: &Actor, station: StationId) -> Decision {
    let own = matches!(actor.role, Role::StationAdmin | Role::Editor)
        && actor.station_id == Some(station);
    allow_if(own || matches!(actor.role, Role::HubAdmin | Role::HubEditor))?;
    require_scope(actor, Scope::Write)
}

/// Acknowledge a correction or withdrawal notice for one's station: whoever may adopt.
pub fn acknowledge(actor: &Actor) -> Decision {
    adopt(actor)
}

/// The network's statistics (league tables, charts): the hub's roles.
pub fn read_statistics(actor: &Actor) -> Decision {
    allow_if(matches!(actor.role, Role::HubAdmin | Role::HubEditor))?;
    read(actor)
}

/// Read the audit log; returns the part the actor may see.
pub fn read_audit(actor: &Actor) -> Result<TenantScope, Denied> {
    allow_if(matches!(actor.role, Role::HubAdmin | Role::StationAdmin))?;
    read(actor)?;
    Ok(actor.tenant_scope())
}

/// Hub roles have no station; station roles need one.
pub fn role_matches_station(role: Role, station: Option<StationId>) -> Result<(), FieldError> {
    match (role.is_hub(), station.is_some()) {
        (true, true) => Err(FieldError::new(
            "station_id",
            "not_allowed",
            "hub roles belong to no station",
        )),
        (false, false) => Err(FieldError::new(
            "station_id",
            "required",
            "station roles need a station",
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(role: Role, station: Option<StationId>) -> Actor {
        Actor {
            user_id: Some(UserId::new()),
            label: "a@x.cn".into(),
            role,
            station_id: station,
            scopes: role.grantable_scopes(),
            token_id: None,
            ip: None,
        }
    }

    #[test]
    fn only_hub_admin_manages_stations() {
        let s = Some(StationId::new());
        assert_eq!(manage_stations(&actor(Role::HubAdmin, None)), Ok(()));
        for (r, st) in [
            (Role::HubEditor, None),
            (Role::StationAdmin, s),
            (Role::Editor, s),
            (Role::Viewer, s),
        ] {
            assert_eq!(
                manage_stations(&actor(r, st)),
                Err(Denied::NotPermitted),
                "{r}"
            );
        }
    }

    #[test]
    fn station_admin_manages_only_own_station_roles() {
        let own = StationId::new();
        let other = StationId::new();
        let a = actor(Role::StationAdmin, Some(own));
        assert_eq!(manage_user(&a, Some(own), Role::Editor), Ok(()));
        assert_eq!(manage_user(&a, Some(own), Role::StationAdmin), Ok(()));
        assert_eq!(
            manage_user(&a, Some(other), Role::Editor),
            Err(Denied::NotPermitted)
        );
        assert_eq!(
            manage_user(&a, None, Role::HubAdmin),
            Err(Denied::NotPermitted)
        );
        assert_eq!(
            manage_user(&a, Some(own), Role::HubEditor),
            Err(Denied::NotPermitted)
        );
        let ed = actor(Role::Editor, Some(own));
        assert_eq!(
            manage_user(&ed, Some(own), Role::Viewer),
            Err(Denied::NotPermitted)
        );
    }

    #[test]
    fn scopes_narrow_roles() {
        let mut a = actor(Role::HubAdmin, None);
        a.scopes = ScopeSet::of(&[Scope::Read]);
        assert_eq!(manage_stations(&a), Err(Denied::MissingScope(Scope::Admin)));
        assert_eq!(list_users(&a), Ok(()));
        a.scopes = ScopeSet::of(&[Scope::Admin]);
        assert_eq!(list_users(&a), Err(Denied::MissingScope(Scope::Read)));
    }

    #[test]
    fn tokens_cannot_escalate() {
        let v = actor(Role::Viewer, Some(StationId::new()));
        assert_eq!(grant_scopes(&v, ScopeSet::of(&[Scope::Read])), Ok(()));
        assert_eq!(grant_scopes(&v, ScopeSet::ALL), Err(Denied::NotPermitted));
        assert_eq!(grant_scopes(&v, ScopeSet::NONE), Err(Denied::NotPermitted));
    }

    #[test]
    fn users_read_themselves() {
        let v = actor(Role::Viewer, Some(StationId::new()));
        let me = v.user_id.unwrap_or_default();
        assert_eq!(read_user(&v, me), Ok(()));
        assert_eq!(read_user(&v, UserId::new()), Err(Denied::NotPermitted));
    }

    #[test]
    fn token_management_of_others() {
        let own = StationId::new();
        let sa = actor(Role::StationAdmin, Some(own));
        assert_eq!(manage_tokens_of(&sa, UserId::new(), Some(own)), Ok(()));
        assert_eq!(
            manage_tokens_of(&sa, UserId::new(), Some(StationId::new())),
            Err(Denied::NotPermitted)
        );
        assert_eq!(
            manage_tokens_of(&sa, UserId::new(), None),
            Err(Denied::NotPermitted)
        );
        let he = actor(Role::HubEditor, None);
        assert_eq!(
            manage_tokens_of(&he, UserId::new(), Some(own)),
            Err(Denied::NotPermitted)
        );
        assert_eq!(token_listing_scope(&he), None);
        assert_eq!(token_listing_scope(&sa), Some(TenantScope::Station(own)));
    }

    #[test]
    fn audit_visibility() {
        let own = StationId::new();
        assert_eq!(
            read_audit(&actor(Role::HubAdmin, None)),
            Ok(TenantScope::All)
        );
        assert_eq!(
            read_audit(&actor(Role::StationAdmin, Some(own))),
            Ok(TenantScope::Station(own))
        );
        assert_eq!(
            read_audit(&actor(Role::Editor, Some(own))),
            Err(Denied::NotPermitted)
        );
        assert_eq!(
            read_audit(&actor(Role::HubEditor, None)),
            Err(Denied::NotPermitted)
        );
    }

    #[test]
    fn hub_roles_have_no_station() {
        let s = Some(StationId::new());
        assert!(role_matches_station(Role::HubAdmin, None).is_ok());
        assert!(role_matches_station(Role::HubEditor, s).is_err());
        assert!(role_matches_station(Role::Viewer, None).is_err());
        assert!(role_matches_station(Role::Viewer, s).is_ok());
    }
}
