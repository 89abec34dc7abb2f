use thiserror::Error;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong in the database layer.
#[derive(Debug, Error)]
pub enum Error {
    #[error("{entity} not found")]
    NotFound { entity: &'static str },
    #[error("{entity} with this {field} already exists")]
    Conflict { entity: &'static str, field: String },
    /// The row is in a state that does not allow the change (an asset still uploading).
    #[error("the {entity} is {state}")]
    WrongState { entity: &'static str, state: String },
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    #[error("database error while trying to {context}")]
    Query {
        context: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("failed to apply migrations")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored value of {what} is invalid: {value}")]
    Corrupt { what: &'static str, value: String },
    #[error(
        "the station's quota of {quota} bytes would be exceeded: {used} used, {requested} requested"
    )]
    QuotaExceeded {
        quota: u64,
        used: u64,
        requested: u64,
    },
    #[error("the station already has {limit} unfinished uploads")]
    TooManyUploads { limit: u64 },
    #[error("unsupported database url `{0}`: use sqlite://PATH or postgres://USER@HOST/DB")]
    UnsupportedUrl(String),
}

impl Error {
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }

    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Conflict { .. })
    }

    /// The database could not be reached or is overloaded: worth a retry later (HTTP 503).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Error::Unavailable(_))
    }

    /// Classifies a driver error: connection trouble, a unique violation on `entity`, or a
    /// plain failure of `context`.
    pub(crate) fn from_sqlx(context: &'static str, entity: &'static str, e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                Error::Unavailable(e)
            }
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                // SQLite: "UNIQUE constraint failed: users.email"; PostgreSQL names the
                // constraint after the table and column: users_email_key.
                let msg = db.message();
                let field = msg
                    .strip_prefix("UNIQUE constraint failed: ")
                    .and_then(|cols| cols.rsplit_once('.'))
                    .map(|(_, f)| f.to_owned())
                    .or_else(|| {
                        let c = db.constraint()?;
                        let c = c.strip_suffix("_key").unwrap_or(c);
                        let table = db.table().unwrap_or_default();
                        Some(c.strip_prefix(&format!("{table}_")).unwrap_or(c).to_owned())
                    })
                    .unwrap_or_else(|| "key".to_owned());
                Error::Conflict { entity, field }
            }
            sqlx::Error::Database(db) if db.message().contains("database is locked") => {
                Error::Unavailable(e)
            }
            // PostgreSQL going down under a query (`57P01` admin shutdown, `57P02` crash
            // shutdown, `57P03` cannot connect now) or a broken connection (class `08`).
            sqlx::Error::Database(db)
                if db
                    .code()
                    .is_some_and(|c| c.starts_with("57P") || c.starts_with("08")) =>
            {
                Error::Unavailable(e)
            }
            _ => Error::Query { context, source: e },
        }
    }
}
