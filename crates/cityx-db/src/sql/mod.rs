//! The SQL backends. One implementation serves SQLite and PostgreSQL through sqlx's `Any`
//! driver: the SQL is portable (`$n` parameters, text ids, integer flags and epoch-millisecond
//! times), so only the migrations and the connection set-up differ per backend.
//!
//! SQLite runs in WAL mode with `synchronous=FULL` (a commit is durable when it returns),
//! foreign keys on and a busy timeout so that concurrent writers wait instead of failing.
//! PostgreSQL keeps its ids in `COLLATE "C"` columns so that they sort like SQLite's (by
//! byte, which for UUIDv7 text is by creation time).

mod exchange;
mod follows;
mod ingest;
mod jobs;
mod notices;
mod outbox;
mod pipeline;
pub(crate) mod processes;
mod rows;
pub(crate) mod schedules;
pub(crate) mod subscribers;
mod webhooks;
mod zones;

use crate::model::{AuditFilter, LoginFailures, Page, PageRequest, SessionRow, TokenFilter};
use crate::{
    Admin, AuditRepo, DbOptions, Error, Result, SessionRepo, StationRepo, TokenRepo, UserRepo,
};
use async_trait::async_trait;
use cityx_core::{
    ApiToken, AuditEntry, AuditId, NewAudit, Station, StationId, TenantScope, TokenId, User, UserId,
};
use rows::{audit_from, ms, opt_ms, scope_args, session_from, station_from, token_from, user_from};
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use sqlx::{Any, Executor, Transaction};
use std::time::Duration;
use time::OffsetDateTime;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Per-connection settings of SQLite (these pragmas do not persist in the file).
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                              PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

const USER_COLS: &str = "u.id, u.station_id, u.email, u.display_name, u.role, u.disabled, \
                         u.created_at, u.updated_at, u.last_login_at";
const TOKEN_COLS: &str = "t.id, t.user_id, u.station_id, t.name, t.kind, t.prefix, t.scopes, \
                          t.created_at, t.expires_at, t.revoked_at, t.last_used_at";

pub struct SqlRepo {
    pub(crate) pool: AnyPool,
    backend: Backend,
    /// Where the database is, for the PostgreSQL listener of job wake-ups.
    url: String,
}

impl SqlRepo {
    pub async fn connect(opts: &DbOptions) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of_url(&opts.url)
            .ok_or_else(|| Error::UnsupportedUrl(crate::redact_url(&opts.url)))?;
        let mut url = opts.url.clone();
        let mut pool = AnyPoolOptions::new()
            .max_connections(opts.max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10));
        if backend == Backend::Sqlite {
            // Create the file on first start.
            if !url.contains("mode=") {
                url.push_str(if url.contains('?') {
                    "&mode=rwc"
                } else {
                    "?mode=rwc"
                });
            }
            pool = pool.after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute(SQLITE_PRAGMAS).await?;
                    Ok(())
                })
            });
        }
        let pool = pool.connect(&url).await.map_err(Error::Unavailable)?;
        Ok(SqlRepo {
            pool,
            backend,
            url: opts.url.clone(),
        })
    }

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

    /// Begins a write transaction. On SQLite it takes the write lock at once (`BEGIN
    /// IMMEDIATE`): a deferred transaction that reads and then writes fails at once with
    /// `SQLITE_BUSY_SNAPSHOT` when another writer committed in between, instead of waiting
    /// its turn (seen with 50 uploads at once).
    pub(crate) async fn begin(&self) -> Result<Transaction<'static, Any>> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
        .map_err(|e| Error::from_sqlx("begin a transaction", "transaction", e))
    }
}

pub(crate) async fn commit(tx: Transaction<'static, Any>) -> Result<()> {
    tx.commit()
        .await
        .map_err(|e| Error::from_sqlx("commit", "transaction", e))
}

pub(crate) async fn write_audit(tx: &mut Transaction<'static, Any>, a: &NewAudit) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (id, at, actor_user_id, actor_label, station_id, action, \
         target_type, target_id, ok, ip, detail) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)",
    )
    .bind(AuditId::new().to_string())
    .bind(ms(cityx_core::now()))
    .bind(a.actor_user_id.map(|u| u.to_string()))
    .bind(&a.actor_label)
    .bind(a.station_id.map(|s| s.to_string()))
    .bind(a.action.as_str())
    .bind(a.target_type)
    .bind(&a.target_id)
    .bind(i64::from(a.ok))
    .bind(&a.ip)
    .bind(a.detail.to_string())
    .execute(&mut **tx)
    .await
    .map_err(|e| Error::from_sqlx("write an audit entry", "audit entry", e))?;
    Ok(())
}

/// Decodes an optional row, or "not found".
pub(crate) fn found<T>(
    row: Option<sqlx::any::AnyRow>,
    decode: fn(&sqlx::any::AnyRow) -> Result<T>,
    entity: &'static str,
) -> Result<T> {
    row.map(|r| decode(&r))
        .transpose()?
        .ok_or(Error::NotFound { entity })
}

/// Builds a page from `limit + 1` fetched rows.
fn page<T>(mut items: Vec<T>, req: &PageRequest, id: impl Fn(&T) -> uuid::Uuid) -> Page<T> {
    let more = items.len() > req.limit as usize;
    items.truncate(req.limit as usize);
    let next = if more { items.last().map(id) } else { None };
    Page { items, next }
}

/// `$1,$2,…,$n`: the placeholders of an IN list of `n` values (callers keep `n` bounded).
pub(crate) fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(",")
}

pub(crate) fn not_found_unless(affected: u64, entity: &'static str) -> Result<()> {
    if affected == 0 {
        Err(Error::NotFound { entity })
    } else {
        Ok(())
    }
}

#[async_trait]
impl Admin for SqlRepo {
    fn backend(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    async fn migrate(&self) -> Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&self.pool).await?;
        Ok(())
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(Error::Unavailable)?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    async fn server_secret(&self, name: &str, candidate: &str) -> Result<String> {
        sqlx::query(
            "INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(candidate)
        .bind(ms(cityx_core::now()))
        .execute(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("keep a server secret", "secret", e))?;
        sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| Error::from_sqlx("read a server secret", "secret", e))
    }
}

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
             contact_name = $6, contact_phone = $7, contact_email = $8, updated_at = $9 \
             WHERE id = $10 AND ($11 OR id = $12)",
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
    ) -> Result<()> {
        let (all, own) = scope_args(scope);
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE users SET password_hash = $1, updated_at = $2 \
             WHERE id = $3 AND ($4 OR station_id = $5)",
        )
        .bind(password_hash)
        .bind(ms(cityx_core::now()))
        .bind(id.to_string())
        .bind(all)
        .bind(own)
        .execute(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("set a password", "user", e))?;
        not_found_unless(done.rows_affected(), "user")?;
        end_all_sessions(&mut tx, id).await?;
        write_audit(&mut tx, audit).await?;
        commit(tx).await
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

    async fn record_login(&self, id: UserId, at: OffsetDateTime, audit: &NewAudit) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE users SET last_login_at = $1 WHERE id = $2")
            .bind(ms(at))
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(|e| Error::from_sqlx("record a login", "user", e))?;
        write_audit(&mut tx, audit).await?;
        commit(tx).await
    }
}

async fn end_all_sessions(tx: &mut Transaction<'static, Any>, user: UserId) -> Result<()> {
    sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user.to_string())
        .execute(&mut **tx)
        .await
        .map_err(|e| Error::from_sqlx("end sessions", "session", e))?;
    Ok(())
}

#[async_trait]
impl TokenRepo for SqlRepo {
    async fn insert_token(&self, t: &ApiToken, hash: &str, audits: &[NewAudit]) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO api_tokens (id, user_id, name, kind, prefix, token_hash, scopes, \
             created_at, expires_at, revoked_at, last_used_at) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)",
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
        write_audit(&mut tx, audit).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sqlite_connections_are_durable_and_strict() {
        let dir = tempfile::tempdir().expect("dir");
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let repo = SqlRepo::connect(&DbOptions {
            url,
            max_connections: 2,
        })
        .await
        .expect("connect");
        let text = |sql: &'static str| {
            let pool = repo.pool.clone();
            async move {
                sqlx::query_scalar::<_, String>(sql)
                    .fetch_one(&pool)
                    .await
                    .expect(sql)
            }
        };
        let int = |sql: &'static str| {
            let pool = repo.pool.clone();
            async move {
                sqlx::query_scalar::<_, i64>(sql)
                    .fetch_one(&pool)
                    .await
                    .expect(sql)
            }
        };
        assert_eq!(text("PRAGMA journal_mode").await, "wal");
        assert_eq!(int("PRAGMA synchronous").await, 2, "FULL");
        assert_eq!(int("PRAGMA foreign_keys").await, 1);
        assert_eq!(int("PRAGMA busy_timeout").await, 10_000);
    }

    #[test]
    fn backends_are_chosen_by_url() {
        assert_eq!(Backend::of_url("sqlite://data/x.db"), Some(Backend::Sqlite));
        assert_eq!(
            Backend::of_url("postgres://u@h/db"),
            Some(Backend::Postgres)
        );
        assert_eq!(
            Backend::of_url("postgresql://u@h/db"),
            Some(Backend::Postgres)
        );
        assert_eq!(Backend::of_url("mysql://u@h/db"), None);
    }
}
