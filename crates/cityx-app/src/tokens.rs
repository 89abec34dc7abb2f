//! Named API tokens: created, listed and revoked.

use crate::secrets::{hash_secret, random_secret};
use crate::{Access, Error, Page, PageRequest, Result};
use cityx_core::validate::Checker;
use cityx_core::{
    Actor, ApiToken, AuditAction, NewAudit, ScopeSet, TenantScope, TokenId, TokenKind, UserId,
    policy,
};
use cityx_db::TokenFilter;
use std::fmt;
use time::Duration;

/// A token secret: `cx_` and 64 hex characters. Shown to its owner once; only its SHA-256 is
/// stored. `Debug` never prints it.
pub struct TokenSecret(String);

impl TokenSecret {
    const PREFIX: &'static str = "cx_";

    pub fn generate() -> Result<Self> {
        Ok(TokenSecret(format!("{}{}", Self::PREFIX, random_secret()?)))
    }

    /// The whole secret, to hand to its owner.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The first characters, stored to recognise the token in lists.
    pub fn prefix(&self) -> String {
        self.0.chars().take(10).collect()
    }

    pub fn hash(&self) -> String {
        hash_secret(&self.0)
    }

    /// Cheap shape check before any database work.
    pub fn looks_valid(s: &str) -> bool {
        s.len() == Self::PREFIX.len() + 64
            && s.starts_with(Self::PREFIX)
            && s[Self::PREFIX.len()..]
                .bytes()
                .all(|b| b.is_ascii_hexdigit())
    }
}

impl fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenSecret({}…)", self.prefix())
    }
}

/// A request for a named token.
#[derive(Clone, Debug)]
pub struct NewToken {
    pub name: String,
    pub scopes: ScopeSet,
    /// Lifetime in days; the configured default when `None`.
    pub expires_in_days: Option<u32>,
    /// Whose token; the caller's own when `None`.
    pub user_id: Option<UserId>,
}

impl Access<'_> {
    /// Creates a named token; returns its record and the secret, which is never shown again.
    pub async fn create_token(
        &self,
        actor: &Actor,
        req: &NewToken,
    ) -> Result<(ApiToken, TokenSecret)> {
        let owner_id = req.user_id.or(actor.user_id).ok_or_else(|| {
            Error::field(
                "user_id",
                "required",
                "the system needs to name the token's owner",
            )
        })?;
        let owner = self
            .users
            .get_user(actor.tenant_scope(), owner_id)
            .await
            .map_err(|e| {
                if e.is_not_found() {
                    Error::NotFound("user")
                } else {
                    e.into()
                }
            })?;
        policy::manage_tokens_of(actor, owner.id, owner.station_id)?;
        policy::grant_scopes(actor, req.scopes)?;
        let mut c = Checker::new();
        let name = c.text("name", &req.name, 100);
        let days = req
            .expires_in_days
            .unwrap_or(self.auth.api_token_default_days);
        let now = cityx_core::now();
        // Out-of-range lifetimes are refused below; the arithmetic must not overflow first.
        let mut expires_at =
            now + Duration::days(i64::from(days.min(self.auth.api_token_max_days)));
        // A token made with a token may not outlive it: asked for longer, it is refused; by
        // default, it ends with its maker.
        let parent = match actor.token_id {
            Some(id) => Some(self.tokens.get_token(TenantScope::All, id).await?),
            None => None,
        };
        if let Some(parent) = &parent
            && parent.expires_at < expires_at
        {
            if req.expires_in_days.is_some() {
                c.push(cityx_core::FieldError::new(
                    "expires_in_days",
                    "outlives_token",
                    format!(
                        "a token may not outlive the token that makes it (it expires {})",
                        parent.expires_at.date()
                    ),
                ));
            }
            expires_at = parent.expires_at;
        }
        if days == 0 || days > self.auth.api_token_max_days {
            c.push(cityx_core::FieldError::new(
                "expires_in_days",
                "out_of_range",
                format!(
                    "expires_in_days must be between 1 and {}",
                    self.auth.api_token_max_days
                ),
            ));
        }
        if !req.scopes.is_subset_of(owner.role.grantable_scopes()) {
            c.push(cityx_core::FieldError::new(
                "scopes",
                "not_allowed",
                format!("a {} may not hold these scopes", owner.role),
            ));
        }
        let name = c.finish(name)?;
        if owner.disabled {
            return Err(Error::AccountDisabled);
        }

        let secret = TokenSecret::generate()?;
        let token = ApiToken {
            id: TokenId::new(),
            user_id: owner.id,
            station_id: owner.station_id,
            name,
            kind: TokenKind::Api,
            prefix: secret.prefix(),
            scopes: req.scopes,
            created_at: now,
            expires_at,
            revoked_at: None,
            last_used_at: None,
        };
        let audit = NewAudit::by(
            actor,
            AuditAction::TokenCreated,
            "token",
            token.id,
            owner.station_id,
        )
        .detail("owner", owner.email.as_str())
        .detail("name", token.name.as_str())
        .detail("scopes", token.scopes.to_names())
        .detail("expires_in_days", days);
        self.tokens
            .insert_token(&token, &secret.hash(), actor.token_id, &[audit])
            .await?;
        Ok((token, secret))
    }

    /// Tokens the caller may see: their own, or those of the users they manage.
    pub async fn list_tokens(
        &self,
        actor: &Actor,
        user: Option<UserId>,
        include_inactive: bool,
        page: &PageRequest,
    ) -> Result<Page<ApiToken>> {
        policy::read(actor)?;
        let (scope, user_id) = match policy::token_listing_scope(actor) {
            Some(scope) => (scope, user),
            None => match (user, actor.user_id) {
                (Some(u), Some(me)) if u != me => return Err(Error::Forbidden),
                (_, me) => (actor.tenant_scope(), me),
            },
        };
        let filter = TokenFilter {
            scope,
            user_id,
            include_inactive,
            now: cityx_core::now(),
        };
        Ok(self.tokens.list_tokens(&filter, page).await?)
    }

    /// Revokes a token the caller owns or manages, and every token made with it. Revoking
    /// twice is not an error.
    pub async fn revoke_token(&self, actor: &Actor, id: TokenId) -> Result<ApiToken> {
        let scope = actor.tenant_scope();
        let token = self.tokens.get_token(scope, id).await?;
        policy::manage_tokens_of(actor, token.user_id, token.station_id)
            .map_err(|_| Error::NotFound("token"))?;
        let audit = NewAudit::by(
            actor,
            AuditAction::TokenRevoked,
            "token",
            id,
            token.station_id,
        )
        .detail("name", token.name.as_str());
        self.tokens
            .revoke_token(scope, id, cityx_core::now(), &audit)
            .await?;
        self.tokens_seen.clear();
        Ok(self.tokens.get_token(scope, id).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::TokenSecret;

    #[test]
    fn secrets_have_a_recognisable_shape() {
        let s = TokenSecret::generate().expect("secret");
        assert!(TokenSecret::looks_valid(s.expose()));
        assert!(s.expose().starts_with("cx_"));
        assert_eq!(s.prefix().len(), 10);
        assert!(
            !format!("{s:?}").contains(&s.expose()[10..]),
            "Debug must not leak the secret"
        );
        assert!(!TokenSecret::looks_valid("cx_short"));
        assert!(!TokenSecret::looks_valid(&format!("xx_{}", "a".repeat(64))));
        assert!(!TokenSecret::looks_valid(&format!("cx_{}", "g".repeat(64))));
    }
}
