//! The SQL backends. One implementation serves SQLite and PostgreSQL through sqlx's `Any`
//! driver: the SQL is portable (`$n` parameters, text ids, integer flags and epoch-millisecond
//! times), so only the migrations and the connection set-up differ per backend.
//!
//! SQLite runs in WAL mode with `synchronous=FULL` (a commit is durable when it returns),
//! foreign keys on and a busy timeout so that concurrent writers wait instead of failing.
//! PostgreSQL keeps its ids in `COLLATE "C"` columns so that they sort like SQLite's (by
//! byte, which for UUIDv7 text is by creation time).

pub(crate) mod events;
pub(crate) mod exchange;
pub(crate) mod follows;
pub(crate) mod ingest;
pub(crate) mod jobs;
pub(crate) mod live;
pub(crate) mod live_targets;
pub(crate) mod notices;
pub(crate) mod outbox;
pub(crate) mod people;
pub(crate) mod pipeline;
pub(crate) mod processes;
mod rows;
pub(crate) mod schedules;
pub(crate) mod subscribers;
pub(crate) mod visibility;
pub(crate) mod webhooks;
pub(crate) mod zones;

use crate::model::{Page, PageRequest};
use crate::{Admin, DbOptions, Error, Result};
use async_trait::async_trait;
use cityx_core::{AuditId, NewAudit};
use rows::ms;
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use sqlx::{Any, Executor, Transaction};
use std::time::Duration;

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

pub(crate) async fn write_audit(
    tx: &mut Transaction<'static, Any>,
    a: &NewAudit,
) -> Result<AuditId> {
    let id = AuditId::new();
    let query = sqlx::query(
        "INSERT INTO audit_log (id, at, actor_user_id, actor_label, station_id, action, \
         target_type, target_id, ok, ip, detail) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)",
    )
    .bind(id.to_string())
    .bind(ms(cityx_core::now()));
    bind_audit(query, a)
        .execute(&mut **tx)
        .await
        .map_err(|e| Error::from_sqlx("write an audit entry", "audit entry", e))?;
    Ok(id)
}

/// Binds an audit entry's fields, from `actor_user_id` to `detail` in the table's order.
pub(crate) fn bind_audit<'q>(
    query: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    a: &'q NewAudit,
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
    query
        .bind(a.actor_user_id.map(|u| u.to_string()))
        .bind(&a.actor_label)
        .bind(a.station_id.map(|s| s.to_string()))
        .bind(a.action.as_str())
        .bind(a.target_type)
        .bind(&a.target_id)
        .bind(i64::from(a.ok))
        .bind(&a.ip)
        .bind(a.detail.to_string())
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

/// Holds one row of `table` (which has an `updated_at`) until the transaction ends (a row lock on PostgreSQL; SQLite's
/// write transactions hold the whole database already), so that a count taken next and the
/// insert it allows are one step for concurrent writers: a cap per station or per person
/// cannot be raced past.
pub(crate) async fn hold_row(
    tx: &mut Transaction<'static, Any>,
    table: &'static str,
    id: &str,
    entity: &'static str,
) -> Result<()> {
    // Touching a column that is no key takes the weaker row lock that inserts referring to
    // the row (their foreign-key checks) do not wait for.
    let done = sqlx::query(&format!(
        "UPDATE {table} SET updated_at = updated_at WHERE id = $1"
    ))
    .bind(id)
    .execute(&mut **tx)
    .await
    .map_err(|e| Error::from_sqlx("hold a row", entity, e))?;
    not_found_unless(done.rows_affected(), entity)
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
