//! Signing in: passwords (with rate limiting), bearer tokens and web sessions.

use crate::secrets::{
    hash_password_async, hash_secret, random_secret, same, verify_password_async,
};
use crate::tokens::TokenSecret;
use crate::{Error, Result};
use cityx_core::validate::Checker;
use cityx_core::{
    Actor, ApiToken, AuditAction, AuditId, NewAudit, ScopeSet, TenantScope, TokenId, TokenKind,
    User, policy,
};
use cityx_db::SessionRow;
use time::{Duration, OffsetDateTime};

/// People's access: sign-in, sessions and API tokens. See [`App::access`](crate::App::access).
#[derive(Clone, Copy)]
pub struct Access<'a> {
    pub(crate) users: &'a dyn cityx_db::UserRepo,
    pub(crate) audit: &'a dyn cityx_db::AuditRepo,
    pub(crate) tokens: &'a dyn cityx_db::TokenRepo,
    pub(crate) sessions: &'a dyn cityx_db::SessionRepo,
    pub(crate) auth: &'a crate::AuthOptions,
    pub(crate) dummy_hash: &'a String,
    pub(crate) tokens_seen: &'a TokenCache,
}

/// A token issued to a script that signed in with a password.
#[derive(Debug)]
pub struct LoginToken {
    pub secret: TokenSecret,
    pub expires_at: OffsetDateTime,
}

/// A signed-in browser: the cookie value (shown once) and the CSRF token forms must carry.
#[derive(Debug)]
pub struct WebSession {
    pub secret: String,
    pub csrf_token: String,
    pub expires_at: OffsetDateTime,
}

/// How long a token's `last_used_at` may lag behind; saves a write per request.
const TOUCH_INTERVAL: Duration = Duration::minutes(1);

/// Tokens remembered at most; past it the memory starts again empty.
const TOKENS_REMEMBERED: usize = 10_000;

/// Bearer tokens looked up lately (by hash), with their users and when they were read, so
/// that a script's requests in a burst cost one lookup. Entries are used for
/// [`AuthOptions::token_cache`](crate::AuthOptions) at most; any change to users, tokens or
/// stations made through this node forgets them all at once.
#[derive(Default)]
pub(crate) struct TokenCache(std::sync::Mutex<std::collections::HashMap<String, Seen>>);

struct Seen {
    read: std::time::Instant,
    token: ApiToken,
    user: User,
}

impl TokenCache {
    fn get(&self, hash: &str, ttl: std::time::Duration) -> Option<(ApiToken, User)> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(hash)
            .filter(|s| s.read.elapsed() < ttl)
            .map(|s| (s.token.clone(), s.user.clone()))
    }

    fn put(&self, hash: String, token: ApiToken, user: User) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= TOKENS_REMEMBERED {
            map.clear();
        }
        let read = std::time::Instant::now();
        map.insert(hash, Seen { read, token, user });
    }

    /// Records a touch, so that a remembered token is not touched again on every request.
    fn touched(&self, hash: &str, at: OffsetDateTime) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = map.get_mut(hash) {
            s.token.last_used_at = Some(at);
        }
    }

    /// Forgets every remembered token: called after every change to users, tokens or
    /// stations, so that this node applies it at once.
    pub(crate) fn clear(&self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

fn dur(d: std::time::Duration) -> Duration {
    Duration::try_from(d).unwrap_or(Duration::MAX)
}

impl Access<'_> {
    /// Checks an email and password. Failures are recorded (and counted for rate limiting)
    /// whatever the reason, with the same answer for an unknown email and a wrong password.
    pub async fn sign_in(&self, email: &str, password: &str, ip: Option<&str>) -> Result<User> {
        let email = email.trim().to_lowercase();
        let (user, attempt) = self.check_password(&email, password, ip).await?;
        let ok = NewAudit::by(
            &Actor::for_user(&user, None, ScopeSet::NONE),
            AuditAction::LoginOk,
            "email",
            &email,
            user.station_id,
        )
        .with_ip(ip.map(str::to_owned));
        self.audit
            .settle_login_attempt(attempt, &ok, Some((user.id, cityx_core::now())))
            .await?;
        Ok(user)
    }

    /// One rate-limited check of a password: the attempt is recorded as a failure first and
    /// the failures in the window (it included) are counted after, so parallel attempts
    /// cannot slip past the limit (see [`cityx_db::AuditRepo::begin_login_attempt`]). A
    /// refused attempt is kept as `login_limited`, which does not count; a wrong password,
    /// an unknown email or a disabled account stays `login_failed`. On success the caller
    /// settles the attempt with what it did.
    async fn check_password(
        &self,
        email: &str,
        password: &str,
        ip: Option<&str>,
    ) -> Result<(User, AuditId)> {
        let now = cityx_core::now();
        let window = dur(self.auth.failure_window);
        let failed = |reason: &'static str, user: Option<&User>| NewAudit {
            actor_user_id: user.map(|u| u.id),
            actor_label: email.to_owned(),
            station_id: user.and_then(|u| u.station_id),
            action: AuditAction::LoginFailed,
            target_type: "email",
            target_id: email.to_owned(),
            ok: false,
            ip: ip.map(str::to_owned),
            detail: serde_json::json!({ "reason": reason }),
        };
        let (attempt, failures) = self
            .audit
            .begin_login_attempt(&failed("checking", None), now - window)
            .await?;
        if failures.by_email > self.auth.max_failures_per_email
            || failures.by_ip > self.auth.max_failures_per_ip
        {
            let limited = NewAudit {
                action: AuditAction::LoginLimited,
                ..failed("too_many_failures", None)
            };
            self.audit
                .settle_login_attempt(attempt, &limited, None)
                .await?;
            let free_at = failures.oldest.unwrap_or(now) + window;
            let retry_after_secs = (free_at - now).whole_seconds().max(1) as u64;
            tracing::warn!(%email, ?ip, "sign-in refused: too many failures");
            return Err(Error::RateLimited { retry_after_secs });
        }

        let found = if password.len() > cityx_core::validate::MAX_PASSWORD {
            None
        } else {
            self.users.find_login(email).await?
        };
        let (user, ok) = match found {
            Some((user, hash)) => {
                let ok = verify_password_async(password.to_owned(), hash).await?;
                (Some(user), ok)
            }
            None => {
                // Same work as a real check, so timing does not reveal which emails exist.
                verify_password_async(password.to_owned(), self.dummy_hash.clone()).await?;
                (None, false)
            }
        };
        let (reason, err) = match user {
            Some(user) if ok && !user.disabled => return Ok((user, attempt)),
            Some(ref u) if ok => (failed("disabled", Some(u)), Error::AccountDisabled),
            Some(ref u) => (failed("bad_password", Some(u)), Error::InvalidCredentials),
            None => (failed("unknown_email", None), Error::InvalidCredentials),
        };
        self.audit
            .settle_login_attempt(attempt, &reason, None)
            .await?;
        Err(err)
    }

    /// A signed-in user changes their own password, proving the current one. Needs a web
    /// session or a token with the `admin` scope; a wrong current password counts toward the
    /// same limit as sign-ins. Every web session and every token of the user ends; returns
    /// how many tokens were revoked.
    pub async fn change_own_password(
        &self,
        actor: &Actor,
        current: &str,
        new: &str,
    ) -> Result<u64> {
        let id = actor.user_id.ok_or(Error::Forbidden)?;
        policy::change_own_credentials(actor)?;
        let mut c = Checker::new();
        c.password("new_password", new);
        c.finish(())?;
        let me = self.users.get_user(TenantScope::All, id).await?;
        let (_, attempt) = self
            .check_password(&me.email, current, actor.ip.as_deref())
            .await
            .map_err(|e| match e {
                Error::InvalidCredentials => {
                    Error::field("current_password", "wrong", "the current password is wrong")
                }
                e => e,
            })?;
        let checked = NewAudit::by(
            actor,
            AuditAction::LoginOk,
            "email",
            &me.email,
            me.station_id,
        )
        .detail("for", "password_change");
        self.audit
            .settle_login_attempt(attempt, &checked, None)
            .await?;
        let hash = hash_password_async(new.to_owned()).await?;
        let audit = NewAudit::by(
            actor,
            AuditAction::PasswordChanged,
            "user",
            id,
            me.station_id,
        );
        let revoked = self
            .users
            .set_password(TenantScope::All, id, &hash, &audit)
            .await?;
        self.tokens_seen.clear();
        Ok(revoked)
    }

    /// Signs in with a password and issues a short-lived token with everything the role
    /// allows (`POST /api/v1/auth/token`).
    pub async fn issue_login_token(
        &self,
        email: &str,
        password: &str,
        ip: Option<&str>,
    ) -> Result<LoginToken> {
        let user = self.sign_in(email, password, ip).await?;
        let now = cityx_core::now();
        let expires_at = now + dur(self.auth.login_token_ttl);
        let secret = TokenSecret::generate()?;
        let token = ApiToken {
            id: TokenId::new(),
            user_id: user.id,
            station_id: user.station_id,
            name: "login".to_owned(),
            kind: TokenKind::Login,
            prefix: secret.prefix(),
            scopes: user.role.grantable_scopes(),
            created_at: now,
            expires_at,
            revoked_at: None,
            last_used_at: None,
        };
        self.tokens
            .insert_token(&token, &secret.hash(), None, &[])
            .await?;
        Ok(LoginToken { secret, expires_at })
    }

    /// The caller behind a bearer token.
    pub async fn authenticate_token(&self, secret: &str) -> Result<Actor> {
        if !TokenSecret::looks_valid(secret) {
            return Err(Error::TokenInvalid);
        }
        let hash = hash_secret(secret);
        let ttl = self.auth.token_cache;
        let (token, user) = match self.tokens_seen.get(&hash, ttl) {
            Some(seen) => seen,
            None => {
                let found = self
                    .tokens
                    .find_token(&hash)
                    .await?
                    .ok_or(Error::TokenInvalid)?;
                if !ttl.is_zero() {
                    self.tokens_seen
                        .put(hash.clone(), found.0.clone(), found.1.clone());
                }
                found
            }
        };
        let now = cityx_core::now();
        if token.revoked_at.is_some() {
            return Err(Error::TokenRevoked);
        }
        if token.expires_at <= now {
            return Err(Error::TokenExpired);
        }
        if user.disabled {
            return Err(Error::AccountDisabled);
        }
        if token.last_used_at.is_none_or(|t| now - t > TOUCH_INTERVAL) {
            self.tokens.touch_token(token.id, now).await?;
            self.tokens_seen.touched(&hash, now);
        }
        Ok(Actor::for_user(&user, Some(token.id), token.scopes))
    }

    /// Opens a web session for a user who just signed in.
    pub async fn start_session(
        &self,
        user: &User,
        ip: Option<&str>,
        user_agent: Option<&str>,
    ) -> Result<WebSession> {
        let secret = random_secret()?;
        let csrf_token = random_secret()?;
        let now = cityx_core::now();
        let expires_at = now + dur(self.auth.session_ttl);
        self.sessions
            .insert_session(&SessionRow {
                id_hash: hash_secret(&secret),
                user_id: user.id,
                csrf_token: csrf_token.clone(),
                created_at: now,
                expires_at,
                ip: ip.map(str::to_owned),
                user_agent: user_agent.map(|s| s.chars().take(200).collect()),
            })
            .await?;
        Ok(WebSession {
            secret,
            csrf_token,
            expires_at,
        })
    }

    /// The caller behind a session cookie, with the session's CSRF token.
    pub async fn authenticate_session(&self, secret: &str) -> Result<(Actor, String)> {
        if secret.len() != 64 {
            return Err(Error::Unauthenticated);
        }
        let (session, user) = self
            .sessions
            .find_session(&hash_secret(secret), cityx_core::now())
            .await?
            .ok_or(Error::Unauthenticated)?;
        if user.disabled {
            return Err(Error::AccountDisabled);
        }
        Ok((
            Actor::for_user(&user, None, ScopeSet::ALL),
            session.csrf_token,
        ))
    }

    /// Ends a web session.
    pub async fn end_session(&self, actor: &Actor, secret: &str) -> Result<()> {
        let audit = NewAudit::by(
            actor,
            AuditAction::Logout,
            "user",
            actor.user_id.map(|u| u.to_string()).unwrap_or_default(),
            actor.station_id,
        );
        self.sessions
            .delete_session(&hash_secret(secret), Some(&audit))
            .await?;
        Ok(())
    }

    /// Removes expired sessions; returns how many.
    pub async fn purge_expired_sessions(&self) -> Result<u64> {
        Ok(self
            .sessions
            .delete_expired_sessions(cityx_core::now())
            .await?)
    }
}

/// Whether a submitted CSRF token matches the session's.
pub fn csrf_matches(expected: &str, submitted: &str) -> bool {
    !expected.is_empty() && same(expected, submitted)
}
