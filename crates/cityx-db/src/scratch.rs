//! Throwaway PostgreSQL databases for test suites: one per test, so that tests never see
//! each other's rows. Used by this crate's conformance suite and by `cityx-testkit`.

use crate::{Error, Result};
use sqlx::{AnyConnection, Connection, Executor};

/// A database created for one test on the server named by a URL.
pub struct ScratchDb {
    /// Connection URL of the new database.
    pub url: String,
    server: String,
    name: String,
}

impl ScratchDb {
    /// Creates `cityx_test_<uuid>` on the server of `server_url` (a URL whose user may
    /// create databases).
    pub async fn create(server_url: &str) -> Result<ScratchDb> {
        sqlx::any::install_default_drivers();
        let name = format!("cityx_test_{}", uuid::Uuid::now_v7().simple());
        let mut admin = AnyConnection::connect(server_url)
            .await
            .map_err(Error::Unavailable)?;
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .map_err(|e| Error::Query {
                context: "create a scratch database",
                source: e,
            })?;
        let base = server_url
            .rsplit_once('/')
            .map(|(b, _)| b)
            .unwrap_or(server_url);
        Ok(ScratchDb {
            url: format!("{base}/{name}"),
            server: server_url.to_owned(),
            name,
        })
    }

    /// Drops the database, closing any connection still open to it.
    pub async fn drop_now(self) {
        if let Ok(mut conn) = AnyConnection::connect(&self.server).await {
            let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
            if let Err(e) = conn.execute(sql.as_str()).await {
                eprintln!("could not drop scratch database {}: {e}", self.name);
            }
        }
    }
}
