//! People: created, changed, disabled, their passwords set; and the first hub admin.

use crate::secrets::{generate_password, hash_password_async};
use crate::{Error, Page, PageRequest, People, Result};
use cityx_core::validate::{Checker, MAX_NAME};
use cityx_core::{Actor, AuditAction, NewAudit, Role, StationId, User, UserId, policy};

/// A person to create.
#[derive(Clone, Debug)]
pub struct NewUser {
    pub email: String,
    pub display_name: String,
    pub role: String,
    pub station_id: Option<StationId>,
    /// Generated (and returned once) when `None`.
    pub password: Option<String>,
}

/// Changes to a person; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct UserPatch {
    pub display_name: Option<String>,
    pub role: Option<String>,
    pub disabled: Option<bool>,
}

impl People<'_> {
    /// Creates a user; returns the generated password when none was given.
    pub async fn create_user(
        &self,
        actor: &Actor,
        new: &NewUser,
    ) -> Result<(User, Option<String>)> {
        let mut c = Checker::new();
        let email = c.email("email", &new.email, true);
        let display_name = c.text("display_name", &new.display_name, MAX_NAME);
        let role = c.role(&new.role);
        if let Some(p) = &new.password {
            c.password("password", p);
        }
        if let Some(role) = role
            && let Err(e) = policy::role_matches_station(role, new.station_id)
        {
            c.push(e);
        }
        let role = c
            .finish(role)?
            .ok_or_else(|| Error::field("role", "required", "role is required"))?;
        policy::manage_user(actor, new.station_id, role)?;
        if let Some(station) = new.station_id {
            // The station must exist and be visible to the caller.
            self.stations
                .get_station(actor.tenant_scope(), station)
                .await
                .map_err(|e| match e {
                    cityx_db::Error::NotFound { .. } => {
                        Error::field("station_id", "not_found", "no such station")
                    }
                    e => e.into(),
                })?;
        }

        let (password, generated) = match &new.password {
            Some(p) => (p.clone(), None),
            None => {
                let p = generate_password()?;
                (p.clone(), Some(p))
            }
        };
        let hash = hash_password_async(password).await?;
        let now = cityx_core::now();
        let user = User {
            id: UserId::new(),
            email,
            display_name,
            role,
            station_id: new.station_id,
            disabled: false,
            created_at: now,
            updated_at: now,
            last_login_at: None,
        };
        let audit = NewAudit::by(
            actor,
            AuditAction::UserCreated,
            "user",
            user.id,
            user.station_id,
        )
        .detail("email", user.email.as_str())
        .detail("role", role.as_str());
        self.users.insert_user(&user, &hash, &audit).await?;
        Ok((user, generated))
    }

    pub async fn get_user(&self, actor: &Actor, id: UserId) -> Result<User> {
        policy::read_user(actor, id).map_err(|_| Error::NotFound("user"))?;
        Ok(self.users.get_user(actor.tenant_scope(), id).await?)
    }

    /// A user by email, if the caller may see them.
    pub async fn user_by_email(&self, actor: &Actor, email: &str) -> Result<User> {
        let (user, _) = self
            .users
            .find_login(&email.trim().to_lowercase())
            .await?
            .ok_or(Error::NotFound("user"))?;
        if !actor.tenant_scope().admits(user.station_id) {
            return Err(Error::NotFound("user"));
        }
        policy::read_user(actor, user.id).map_err(|_| Error::NotFound("user"))?;
        Ok(user)
    }

    /// Users the caller may see, optionally of one station.
    pub async fn list_users(
        &self,
        actor: &Actor,
        station: Option<StationId>,
        page: &PageRequest,
    ) -> Result<Page<User>> {
        policy::list_users(actor)?;
        Ok(self
            .users
            .list_users(actor.tenant_scope(), station, page)
            .await?)
    }

    pub async fn update_user(&self, actor: &Actor, id: UserId, patch: &UserPatch) -> Result<User> {
        let scope = actor.tenant_scope();
        let old = self.get_user(actor, id).await?;
        let mut c = Checker::new();
        let display_name = patch
            .display_name
            .as_deref()
            .map(|n| c.text("display_name", n, MAX_NAME));
        let role = patch.role.as_deref().map(|r| c.role(r));
        let role = c.finish(role)?.flatten().unwrap_or(old.role);
        if role.is_hub() != old.role.is_hub() {
            return Err(Error::field(
                "role",
                "not_allowed",
                "a hub role cannot become a station role or the other way round",
            ));
        }
        // Both the user as they are and as they will be must be within the caller's power.
        policy::manage_user(actor, old.station_id, old.role)?;
        policy::manage_user(actor, old.station_id, role)?;
        let disabled = patch.disabled.unwrap_or(old.disabled);
        if actor.user_id == Some(id) && (role != old.role || disabled) {
            return Err(Error::CannotChangeSelf);
        }

        let user = User {
            display_name: display_name.unwrap_or_else(|| old.display_name.clone()),
            role,
            disabled,
            updated_at: cityx_core::now(),
            ..old.clone()
        };
        let mut audits = Vec::new();
        let entry = |action| {
            NewAudit::by(actor, action, "user", id, old.station_id)
                .detail("email", old.email.as_str())
        };
        if role != old.role {
            audits.push(
                entry(AuditAction::RoleChanged)
                    .detail("from", old.role.as_str())
                    .detail("to", role.as_str()),
            );
        }
        if disabled != old.disabled {
            audits.push(entry(if disabled {
                AuditAction::UserDisabled
            } else {
                AuditAction::UserEnabled
            }));
        }
        if user.display_name != old.display_name {
            audits.push(entry(AuditAction::UserUpdated).detail(
                "display_name",
                serde_json::json!({ "from": old.display_name, "to": user.display_name }),
            ));
        }
        if audits.is_empty() {
            return Ok(old);
        }
        let end_sessions = disabled && !old.disabled;
        self.users
            .update_user(scope, &user, end_sessions, &audits)
            .await?;
        self.tokens_seen.clear();
        Ok(user)
    }

    /// Sets another user's password (an admin's reset); returns the generated one when none
    /// is given, and how many of the user's tokens were revoked: the user is signed out
    /// everywhere and every token of theirs ends.
    pub async fn reset_password(
        &self,
        actor: &Actor,
        id: UserId,
        new: Option<&str>,
    ) -> Result<(Option<String>, u64)> {
        let target = self.get_user(actor, id).await?;
        policy::manage_user(actor, target.station_id, target.role)?;
        let (password, generated) = match new {
            Some(p) => {
                let mut c = Checker::new();
                c.password("password", p);
                c.finish(())?;
                (p.to_owned(), None)
            }
            None => {
                let p = generate_password()?;
                (p.clone(), Some(p))
            }
        };
        let hash = hash_password_async(password).await?;
        let audit = NewAudit::by(
            actor,
            AuditAction::PasswordReset,
            "user",
            id,
            target.station_id,
        )
        .detail("email", target.email.as_str());
        let revoked = self
            .users
            .set_password(actor.tenant_scope(), id, &hash, &audit)
            .await?;
        self.tokens_seen.clear();
        Ok((generated, revoked))
    }

    /// On an empty database, creates the first hub admin. Returns the email and, when no
    /// password was given, the generated one (to print once). Does nothing otherwise.
    pub async fn ensure_first_admin(
        &self,
        email: Option<&str>,
        password: Option<&str>,
    ) -> Result<Option<(String, Option<String>)>> {
        if self.users.count_users().await? > 0 {
            return Ok(None);
        }
        let email = email.unwrap_or("admin@cityx.local");
        let (user, generated) = self
            .create_user(
                &Actor::system(),
                &NewUser {
                    email: email.to_owned(),
                    display_name: "管理员 Admin".to_owned(),
                    role: Role::HubAdmin.as_str().to_owned(),
                    station_id: None,
                    password: password.map(str::to_owned),
                },
            )
            .await?;
        Ok(Some((user.email, generated)))
    }
}
