//! People and access: stations, users, API tokens, web sessions and the audit log.

use super::rows::{
    audit_from, ms, opt_ms, scope_args, session_from, station_from, token_from, user_from,
};
use super::{SqlRepo, commit, found, not_found_unless, page, rows, write_audit};
use crate::model::{AuditFilter, LoginFailures, Page, PageRequest, SessionRow, TokenFilter};
use crate::{Error, Result};
use async_trait::async_trait;
use cityx_core::{
    ApiToken, AuditEntry, AuditId, NewAudit, Station, StationId, TenantScope, TokenId, User, UserId,
};
use sqlx::{Any, Transaction};
use time::OffsetDateTime;

#[async_trait]
pub trait StationRepo: Send + Sync {
    async fn insert_station(&self, station: &Station, audit: &NewAudit) -> Result<()>;
    async fn get_station(&self, scope: TenantScope, id: StationId) -> Result<Station>;
    async fn find_station_by_code(&self, scope: TenantScope, code: &str) -> Result<Station>;
    async fn list_stations(&self, scope: TenantScope, page: &PageRequest) -> Result<Page<Station>>;
    /// Writes every field but `id` and `created_at`.
    async fn update_station(
        &self,
        scope: TenantScope,
        station: &Station,
        audit: &NewAudit,
    ) -> Result<()>;
}

#[async_trait]
pub trait UserRepo: Send + Sync {
    /// Users of every station, for the first-start check.
    async fn count_users(&self) -> Result<u64>;
    async fn insert_user(&self, user: &User, password_hash: &str, audit: &NewAudit) -> Result<()>;
    async fn get_user(&self, scope: TenantScope, id: UserId) -> Result<User>;
    async fn list_users(
        &self,
        scope: TenantScope,
        station: Option<StationId>,
        page: &PageRequest,
    ) -> Result<Page<User>>;
    /// Writes name, role and `disabled`; when `end_sessions`, signs the user out everywhere.
    async fn update_user(
        &self,
        scope: TenantScope,
        user: &User,
        end_sessions: bool,
        audits: &[NewAudit],
    ) -> Result<()>;
    /// Replaces the password hash and signs the user out everywhere.
    async fn set_password(
        &self,
        scope: TenantScope,
        id: UserId,
        password_hash: &str,
        audit: &NewAudit,
    ) -> Result<u64>;
    /// The user and password hash for a sign-in attempt. Unscoped: nobody is signed in yet.
    async fn find_login(&self, email: &str) -> Result<Option<(User, String)>>;
}

#[async_trait]
pub trait TokenRepo: Send + Sync {
    /// Stores a token; `parent` is the token that made it, if one did.
    async fn insert_token(
        &self,
        token: &ApiToken,
        hash: &str,
        parent: Option<TokenId>,
        audits: &[NewAudit],
    ) -> Result<()>;
    /// The token and its owner for a presented secret. Unscoped: this is authentication.
    async fn find_token(&self, hash: &str) -> Result<Option<(ApiToken, User)>>;
    async fn touch_token(&self, id: TokenId, at: OffsetDateTime) -> Result<()>;
    async fn get_token(&self, scope: TenantScope, id: TokenId) -> Result<ApiToken>;
    async fn list_tokens(&self, filter: &TokenFilter, page: &PageRequest)
    -> Result<Page<ApiToken>>;
    /// Revokes a token inside the scope, and every token it made (and they made, and so on).
    /// Revoking a revoked token changes nothing.
    async fn revoke_token(
        &self,
        scope: TenantScope,
        id: TokenId,
        at: OffsetDateTime,
        audit: &NewAudit,
    ) -> Result<()>;
}

#[async_trait]
pub trait SessionRepo: Send + Sync {
    async fn insert_session(&self, session: &SessionRow) -> Result<()>;
    /// A live session and its user.
    async fn find_session(
        &self,
        id_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<(SessionRow, User)>>;
    async fn delete_session(&self, id_hash: &str, audit: Option<&NewAudit>) -> Result<()>;
    /// Removes expired sessions; returns how many.
    async fn delete_expired_sessions(&self, now: OffsetDateTime) -> Result<u64>;
}

#[async_trait]
pub trait AuditRepo: Send + Sync {
    async fn insert_audit(&self, audit: &NewAudit) -> Result<()>;
    /// Newest first.
    async fn list_audit(
        &self,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEntry>>;
    /// Records a sign-in attempt as failed before its password is checked, then counts the
    /// failures since `since` for its email and address, this one included. The entry is
    /// written (and committed) before the count is read, so of many attempts racing, the
    /// k-th to be written counts at least k: no more than the limit can pass, on either
    /// backend and from any number of nodes. [`settle_login_attempt`](Self::settle_login_attempt)
    /// then writes its outcome.
    async fn begin_login_attempt(
        &self,
        audit: &NewAudit,
        since: OffsetDateTime,
    ) -> Result<(AuditId, LoginFailures)>;
    /// Rewrites an attempt's entry with its outcome; with `login`, also marks the user's
    /// last sign-in, in the same transaction.
    async fn settle_login_attempt(
        &self,
        attempt: AuditId,
        outcome: &NewAudit,
        login: Option<(UserId, OffsetDateTime)>,
    ) -> Result<()>;
    /// Failed sign-ins for an email or from an IP since a time, for rate limiting.
    async fn login_failures(
        &self,
        email: Option<&str>,
        ip: Option<&str>,
        since: OffsetDateTime,
    ) -> Result<LoginFailures>;
}

const USER_COLS: &str = "u.id, u.station_id, u.email, u.display_name, u.role, u.disabled, \
                         u.created_at, u.updated_at, u.last_login_at";

const TOKEN_COLS: &str = "t.id, t.user_id, u.station_id, t.name, t.kind, t.prefix, t.scopes, \
                          t.created_at, t.expires_at, t.revoked_at, t.last_used_at";

#[async_trait]
impl StationRepo for SqlRepo {
    async fn insert_station(&self, s: &Station, audit: &NewAudit) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO stations (id, name, code, city, province, region, contact_name, \
             contact_phone, contact_email, created_at, updated_at) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)",
        )
        .bind(s.id.to_string())
        .bind(&s.name)
        .bind(&s.code)
        .bind(&s.city)
        .bind(&s.province)
        .bind(s.region.as_str())
        .bind(&s.contact_name)
        .bind(&s.contact_phone)
        .bind(&s.contact_email)
        .bind(ms(s.created_at))
        .bind(ms(s.updated_at))
        .execute(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("insert a station", "station", e))?;
        write_audit(&mut tx, audit).await?;
        commit(tx).await
    }

    async fn get_station(&self, scope: TenantScope, id: StationId) -> Result<Station> {
        self.station_where("id", &id.to_string(), scope).await
    }

    async fn find_station_by_code(&self, scope: TenantScope, code: &str) -> Result<Station> {
        self.station_where("code", code, scope).await
    }

    async fn list_stations(&self, scope: TenantScope, req: &PageRequest) -> Result<Page<Station>> {
        let (all, own) = scope_args(scope);
        let rows = sqlx::query(
            "SELECT * FROM stations WHERE ($1 OR id = $2) AND ($3 IS NULL OR id > $3) \
             ORDER BY id LIMIT $4",
        )
        .bind(all)
        .bind(own)
        .bind(req.after.map(|u| u.to_string()))
        .bind(i64::from(req.limit) + 1)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("list stations", "station", e))?;
        let items = rows.iter().map(station_from).collect::<Result<Vec<_>>>()?;
        Ok(page(items, req, |s| s.id.0))
    }

    async fn update_station(
        &self,
        scope: TenantScope,
        s: &Station,
        audit: &NewAudit,
    ) -> Result<()> {
        let (all, own) = scope_args(scope);
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE stations SET name = $1, code = $2, city = $3, province = $4, region = $5, \
             contact_name = $6, contact_phone = $7, contact_email = $8, updated_at = $9, \
             default_visibility = $13 WHERE id = $10 AND ($11 OR id = $12)",
        )
        .bind(&s.name)
        .bind(&s.code)
        .bind(&s.city)
        .bind(&s.province)
        .bind(s.region.as_str())
        .bind(&s.contact_name)
        .bind(&s.contact_phone)
        .bind(&s.contact_email)
        .bind(ms(s.updated_at))
        .bind(s.id.to_string())
        .bind(all)
        .bind(own)
        .bind(s.default_visibility.as_str())
        .execute(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("update a station", "station", e))?;
        not_found_unless(done.rows_affected(), "station")?;
        write_audit(&mut tx, audit).await?;
        commit(tx).await
    }
}

#[async_trait]
impl UserRepo for SqlRepo {
    async fn count_users(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| Error::from_sqlx("count users", "user", e))?;
        Ok(n.max(0) as u64)
    }

    async fn insert_user(&self, u: &User, password_hash: &str, audit: &NewAudit) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO users (id, station_id, email, display_name, role, password_hash, \
             disabled, created_at, updated_at, last_login_at) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
        )
        .bind(u.id.to_string())
        .bind(u.station_id.map(|s| s.to_string()))
        .bind(&u.email)
        .bind(&u.display_name)
        .bind(u.role.as_str())
        .bind(password_hash)
        .bind(i64::from(u.disabled))
        .bind(ms(u.created_at))
        .bind(ms(u.updated_at))
        .bind(opt_ms(u.last_login_at))
        .execute(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("insert a user", "user", e))?;
        write_audit(&mut tx, audit).await?;
        commit(tx).await
    }

    async fn get_user(&self, scope: TenantScope, id: UserId) -> Result<User> {
        let (all, own) = scope_args(scope);
        let row = sqlx::query(&format!(
            "SELECT {USER_COLS} FROM users u WHERE u.id = $1 AND ($2 OR u.station_id = $3)"
        ))
        .bind(id.to_string())
        .bind(all)
        .bind(own)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("read a user", "user", e))?;
        found(row, user_from, "user")
    }

    async fn list_users(
        &self,
        scope: TenantScope,
        station: Option<StationId>,
        req: &PageRequest,
    ) -> Result<Page<User>> {
        let (all, own) = scope_args(scope);
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLS} FROM users u WHERE ($1 OR u.station_id = $2) \
             AND ($3 IS NULL OR u.station_id = $3) AND ($4 IS NULL OR u.id > $4) \
             ORDER BY u.id LIMIT $5"
        ))
        .bind(all)
        .bind(own)
        .bind(station.map(|s| s.to_string()))
        .bind(req.after.map(|u| u.to_string()))
        .bind(i64::from(req.limit) + 1)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("list users", "user", e))?;
        let items = rows.iter().map(user_from).collect::<Result<Vec<_>>>()?;
        Ok(page(items, req, |u| u.id.0))
    }

    async fn update_user(
        &self,
        scope: TenantScope,
        u: &User,
        end_sessions: bool,
        audits: &[NewAudit],
    ) -> Result<()> {
        let (all, own) = scope_args(scope);
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE users SET display_name = $1, role = $2, disabled = $3, updated_at = $4 \
             WHERE id = $5 AND ($6 OR station_id = $7)",
        )
        .bind(&u.display_name)
        .bind(u.role.as_str())
        .bind(i64::from(u.disabled))
        .bind(ms(u.updated_at))
        .bind(u.id.to_string())
        .bind(all)
        .bind(own)
        .execute(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("update a user", "user", e))?;
        not_found_unless(done.rows_affected(), "user")?;
        if end_sessions {
            end_all_sessions(&mut tx, u.id).await?;
        }
        for a in audits {
            write_audit(&mut tx, a).await?;
        }
        commit(tx).await
    }

    async fn set_password(
        &self,
        scope: TenantScope,
        id: UserId,
        password_hash: &str,
        audit: &NewAudit,
    ) -> Result<u64> {
        let (all, own) = scope_args(scope);
        let now = cityx_core::now();
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE users SET password_hash = $1, updated_at = $2 \
             WHERE id = $3 AND ($4 OR station_id = $5)",
        )
        .bind(password_hash)
        .bind(ms(now))
        .bind(id.to_string())
        .bind(all)
        .bind(own)
        .execute(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("set a password", "user", e))?;
        not_found_unless(done.rows_affected(), "user")?;
        end_all_sessions(&mut tx, id).await?;
        let revoked = revoke_all_tokens(&mut tx, id, now).await?;
        write_audit(&mut tx, &audit.clone().detail("tokens_revoked", revoked)).await?;
        commit(tx).await?;
        Ok(revoked)
    }

    async fn find_login(&self, email: &str) -> Result<Option<(User, String)>> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLS}, u.password_hash FROM users u WHERE u.email = $1"
        ))
        .bind(email)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("look up a login", "user", e))?;
        match row {
            Some(r) => {
                use sqlx::Row;
                let hash: String = r
                    .try_get("password_hash")
                    .map_err(|e| Error::from_sqlx("read a password hash", "user", e))?;
                Ok(Some((user_from(&r)?, hash)))
            }
            None => Ok(None),
        }
    }
}

#[async_trait]
impl TokenRepo for SqlRepo {
    async fn insert_token(
        &self,
        t: &ApiToken,
        hash: &str,
        parent: Option<TokenId>,
        audits: &[NewAudit],
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO api_tokens (id, user_id, name, kind, prefix, token_hash, scopes, \
             created_at, expires_at, revoked_at, last_used_at, parent_id) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)",
        )
        .bind(t.id.to_string())
        .bind(t.user_id.to_string())
        .bind(&t.name)
        .bind(t.kind.as_str())
        .bind(&t.prefix)
        .bind(hash)
        .bind(t.scopes.to_names())
        .bind(ms(t.created_at))
        .bind(ms(t.expires_at))
        .bind(opt_ms(t.revoked_at))
        .bind(opt_ms(t.last_used_at))
        .bind(parent.map(|p| p.to_string()))
        .execute(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("insert a token", "token", e))?;
        for a in audits {
            write_audit(&mut tx, a).await?;
        }
        commit(tx).await
    }

    async fn find_token(&self, hash: &str) -> Result<Option<(ApiToken, User)>> {
        let row = sqlx::query(&format!(
            "SELECT {TOKEN_COLS}, {USER_COLS_AS} FROM api_tokens t \
             JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1",
            USER_COLS_AS = rows::USER_COLS_PREFIXED
        ))
        .bind(hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("look up a token", "token", e))?;
        match row {
            Some(r) => Ok(Some((token_from(&r)?, rows::prefixed_user_from(&r)?))),
            None => Ok(None),
        }
    }

    async fn touch_token(&self, id: TokenId, at: OffsetDateTime) -> Result<()> {
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(ms(at))
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(|e| Error::from_sqlx("touch a token", "token", e))?;
        Ok(())
    }

    async fn get_token(&self, scope: TenantScope, id: TokenId) -> Result<ApiToken> {
        let (all, own) = scope_args(scope);
        let row = sqlx::query(&format!(
            "SELECT {TOKEN_COLS} FROM api_tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.id = $1 AND ($2 OR u.station_id = $3)"
        ))
        .bind(id.to_string())
        .bind(all)
        .bind(own)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("read a token", "token", e))?;
        found(row, token_from, "token")
    }

    async fn list_tokens(&self, f: &TokenFilter, req: &PageRequest) -> Result<Page<ApiToken>> {
        let (all, own) = scope_args(f.scope);
        let rows = sqlx::query(&format!(
            "SELECT {TOKEN_COLS} FROM api_tokens t JOIN users u ON u.id = t.user_id \
             WHERE ($1 OR u.station_id = $2) AND ($3 IS NULL OR t.user_id = $3) \
             AND ($4 OR (t.revoked_at IS NULL AND t.expires_at > $5)) \
             AND ($6 IS NULL OR t.id > $6) ORDER BY t.id LIMIT $7"
        ))
        .bind(all)
        .bind(own)
        .bind(f.user_id.map(|u| u.to_string()))
        .bind(f.include_inactive)
        .bind(ms(f.now))
        .bind(req.after.map(|u| u.to_string()))
        .bind(i64::from(req.limit) + 1)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("list tokens", "token", e))?;
        let items = rows.iter().map(token_from).collect::<Result<Vec<_>>>()?;
        Ok(page(items, req, |t| t.id.0))
    }

    async fn revoke_token(
        &self,
        scope: TenantScope,
        id: TokenId,
        at: OffsetDateTime,
        audit: &NewAudit,
    ) -> Result<()> {
        let (all, own) = scope_args(scope);
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL \
             AND user_id IN (SELECT id FROM users WHERE $3 OR station_id = $4)",
        )
        .bind(ms(at))
        .bind(id.to_string())
        .bind(all)
        .bind(own)
        .execute(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("revoke a token", "token", e))?;
        if done.rows_affected() == 0 {
            drop(tx);
            // Already revoked is fine; outside the scope or missing is not.
            return self.get_token(scope, id).await.map(|_| ());
        }
        let made = revoke_made_by(&mut tx, &[id], at).await?;
        write_audit(&mut tx, &audit.clone().detail("also_revoked", made)).await?;
        commit(tx).await
    }
}

#[async_trait]
impl SessionRepo for SqlRepo {
    async fn insert_session(&self, s: &SessionRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, expires_at, ip, \
             user_agent) VALUES ($1,$2,$3,$4,$5,$6,$7)",
        )
        .bind(&s.id_hash)
        .bind(s.user_id.to_string())
        .bind(&s.csrf_token)
        .bind(ms(s.created_at))
        .bind(ms(s.expires_at))
        .bind(&s.ip)
        .bind(&s.user_agent)
        .execute(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("insert a session", "session", e))?;
        Ok(())
    }

    async fn find_session(
        &self,
        id_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<(SessionRow, User)>> {
        let row = sqlx::query(&format!(
            "SELECT s.*, {USER_COLS_AS} FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.id_hash = $1 AND s.expires_at > $2",
            USER_COLS_AS = rows::USER_COLS_PREFIXED
        ))
        .bind(id_hash)
        .bind(ms(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("look up a session", "session", e))?;
        match row {
            Some(r) => Ok(Some((session_from(&r)?, rows::prefixed_user_from(&r)?))),
            None => Ok(None),
        }
    }

    async fn delete_session(&self, id_hash: &str, audit: Option<&NewAudit>) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&mut *tx)
            .await
            .map_err(|e| Error::from_sqlx("delete a session", "session", e))?;
        if let Some(a) = audit {
            write_audit(&mut tx, a).await?;
        }
        commit(tx).await
    }

    async fn delete_expired_sessions(&self, now: OffsetDateTime) -> Result<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(ms(now))
            .execute(&self.pool)
            .await
            .map_err(|e| Error::from_sqlx("delete expired sessions", "session", e))?;
        Ok(done.rows_affected())
    }
}

#[async_trait]
impl AuditRepo for SqlRepo {
    async fn insert_audit(&self, audit: &NewAudit) -> Result<()> {
        let mut tx = self.begin().await?;
        write_audit(&mut tx, audit).await?;
        commit(tx).await
    }

    async fn begin_login_attempt(
        &self,
        audit: &NewAudit,
        since: OffsetDateTime,
    ) -> Result<(AuditId, LoginFailures)> {
        let mut tx = self.begin().await?;
        let id = write_audit(&mut tx, audit).await?;
        commit(tx).await?;
        let failures = self
            .login_failures(Some(&audit.target_id), audit.ip.as_deref(), since)
            .await?;
        Ok((id, failures))
    }

    async fn settle_login_attempt(
        &self,
        attempt: AuditId,
        a: &NewAudit,
        login: Option<(UserId, OffsetDateTime)>,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let query = sqlx::query(
            "UPDATE audit_log SET actor_user_id = $1, actor_label = $2, station_id = $3, \
             action = $4, target_type = $5, target_id = $6, ok = $7, ip = $8, detail = $9 \
             WHERE id = $10",
        );
        let attempt = attempt.to_string();
        super::bind_audit(query, a)
            .bind(&attempt)
            .execute(&mut *tx)
            .await
            .map_err(|e| Error::from_sqlx("settle a sign-in attempt", "audit entry", e))?;
        if let Some((user, at)) = login {
            sqlx::query("UPDATE users SET last_login_at = $1 WHERE id = $2")
                .bind(ms(at))
                .bind(user.to_string())
                .execute(&mut *tx)
                .await
                .map_err(|e| Error::from_sqlx("record a login", "user", e))?;
        }
        commit(tx).await
    }

    async fn list_audit(&self, f: &AuditFilter, req: &PageRequest) -> Result<Page<AuditEntry>> {
        let (all, own) = scope_args(f.scope);
        let rows = sqlx::query(
            "SELECT * FROM audit_log WHERE ($1 OR station_id = $2) \
             AND ($3 IS NULL OR station_id = $3) AND ($4 IS NULL OR action = $4) \
             AND ($5 IS NULL OR id < $5) ORDER BY id DESC LIMIT $6",
        )
        .bind(all)
        .bind(own)
        .bind(f.station.map(|s| s.to_string()))
        .bind(&f.action)
        .bind(req.after.map(|u| u.to_string()))
        .bind(i64::from(req.limit) + 1)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("list the audit log", "audit entry", e))?;
        let items = rows.iter().map(audit_from).collect::<Result<Vec<_>>>()?;
        Ok(page(items, req, |a| a.id.0))
    }

    async fn login_failures(
        &self,
        email: Option<&str>,
        ip: Option<&str>,
        since: OffsetDateTime,
    ) -> Result<LoginFailures> {
        let (by_email, oldest_email): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), MIN(at) FROM audit_log \
             WHERE action = 'login_failed' AND target_id = $1 AND at > $2",
        )
        .bind(email)
        .bind(ms(since))
        .fetch_one(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("count failed logins", "audit entry", e))?;
        let (by_ip, oldest_ip): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), MIN(at) FROM audit_log \
             WHERE action = 'login_failed' AND ip = $1 AND at > $2",
        )
        .bind(ip)
        .bind(ms(since))
        .fetch_one(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("count failed logins", "audit entry", e))?;
        let oldest = [oldest_email, oldest_ip].into_iter().flatten().min();
        Ok(LoginFailures {
            by_email: by_email.max(0) as u64,
            by_ip: by_ip.max(0) as u64,
            oldest: oldest.map(rows::from_ms),
        })
    }
}

/// Revokes every live token of a user, and what those tokens made; returns how many.
async fn revoke_all_tokens(
    tx: &mut Transaction<'static, Any>,
    user: UserId,
    at: OffsetDateTime,
) -> Result<u64> {
    let ids: Vec<(String,)> =
        sqlx::query_as("SELECT id FROM api_tokens WHERE user_id = $1 AND revoked_at IS NULL")
            .bind(user.to_string())
            .fetch_all(&mut **tx)
            .await
            .map_err(|e| Error::from_sqlx("list a user's tokens", "token", e))?;
    let ids = ids
        .into_iter()
        .map(|(id,)| rows::parse("token id", id))
        .collect::<Result<Vec<TokenId>>>()?;
    let done = sqlx::query(
        "UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
    )
    .bind(ms(at))
    .bind(user.to_string())
    .execute(&mut **tx)
    .await
    .map_err(|e| Error::from_sqlx("revoke a user's tokens", "token", e))?;
    Ok(done.rows_affected() + revoke_made_by(tx, &ids, at).await?)
}

/// Revokes the live tokens that `makers` made, and what those made, and so on; returns how
/// many.
async fn revoke_made_by(
    tx: &mut Transaction<'static, Any>,
    makers: &[TokenId],
    at: OffsetDateTime,
) -> Result<u64> {
    let mut total = 0;
    for maker in makers {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE revoked_at IS NULL AND id IN (\
             WITH RECURSIVE made(id) AS (\
               SELECT id FROM api_tokens WHERE parent_id = $2 \
               UNION SELECT t.id FROM api_tokens t JOIN made m ON t.parent_id = m.id) \
             SELECT id FROM made)",
        )
        .bind(ms(at))
        .bind(maker.to_string())
        .execute(&mut **tx)
        .await
        .map_err(|e| Error::from_sqlx("revoke the tokens a token made", "token", e))?;
        total += done.rows_affected();
    }
    Ok(total)
}

async fn end_all_sessions(tx: &mut Transaction<'static, Any>, user: UserId) -> Result<()> {
    sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user.to_string())
        .execute(&mut **tx)
        .await
        .map_err(|e| Error::from_sqlx("end sessions", "session", e))?;
    Ok(())
}

impl SqlRepo {
    /// The station whose `column` (`id` or `code`, never user input) equals `value`,
    /// inside the scope.
    async fn station_where(
        &self,
        column: &'static str,
        value: &str,
        scope: TenantScope,
    ) -> Result<Station> {
        let (all, own) = scope_args(scope);
        let row = sqlx::query(&format!(
            "SELECT * FROM stations WHERE {column} = $1 AND ($2 OR id = $3)"
        ))
        .bind(value)
        .bind(all)
        .bind(own)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("read a station", "station", e))?;
        found(row, station_from, "station")
    }
}
