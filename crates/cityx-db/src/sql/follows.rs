//! Follows: one person's zones, keywords and stations, with the time of their last look.

use super::rows::{from_ms, get, ms, parse};
use super::{SqlRepo, not_found_unless};
use crate::{Error, Result};
use async_trait::async_trait;
use cityx_core::follow::MAX_PER_USER;
use cityx_core::{Follow, FollowId, FollowTarget, UserId};
use sqlx::any::AnyRow;
use time::OffsetDateTime;

/// Follows: one person's own list; nobody else reads it.
#[async_trait]
pub trait FollowRepo: Send + Sync {
    /// A second follow of the same thing is `Conflict`; more than `MAX_PER_USER` is
    /// `WrongState { state: "too_many" }`. The last look starts now.
    async fn insert_follow(
        &self,
        id: cityx_core::FollowId,
        user: UserId,
        target: &cityx_core::FollowTarget,
        label: &str,
    ) -> Result<cityx_core::Follow>;
    async fn list_follows(&self, user: UserId) -> Result<Vec<cityx_core::Follow>>;
    async fn get_follow(
        &self,
        user: UserId,
        id: cityx_core::FollowId,
    ) -> Result<cityx_core::Follow>;
    /// Records a look at `at`.
    async fn mark_follow_seen(
        &self,
        user: UserId,
        id: cityx_core::FollowId,
        at: OffsetDateTime,
    ) -> Result<()>;
    async fn delete_follow(&self, user: UserId, id: cityx_core::FollowId) -> Result<()>;
}

const COLS: &str = "id, user_id, kind, target, label, created_at, seen_at";

fn follow_from(r: &AnyRow) -> Result<Follow> {
    Ok(Follow {
        id: parse("follow id", get(r, "id")?)?,
        user_id: parse("user id", get(r, "user_id")?)?,
        kind: parse("follow kind", get(r, "kind")?)?,
        target: get(r, "target")?,
        label: get(r, "label")?,
        created_at: from_ms(get(r, "created_at")?),
        seen_at: from_ms(get(r, "seen_at")?),
    })
}

#[async_trait]
impl FollowRepo for SqlRepo {
    async fn insert_follow(
        &self,
        id: FollowId,
        user: UserId,
        target: &FollowTarget,
        label: &str,
    ) -> Result<Follow> {
        let mut tx = self.begin().await?;
        super::hold_row(&mut tx, "users", &user.to_string(), "user").await?;
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM follows WHERE user_id = $1")
            .bind(user.to_string())
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| Error::from_sqlx("count follows", "follow", e))?;
        if n >= i64::try_from(MAX_PER_USER).unwrap_or(i64::MAX) {
            return Err(Error::WrongState {
                entity: "follow",
                state: "too_many".into(),
            });
        }
        let now = ms(cityx_core::now());
        let row = sqlx::query(&format!(
            "INSERT INTO follows ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING {COLS}"
        ))
        .bind(id.to_string())
        .bind(user.to_string())
        .bind(target.kind.as_str())
        .bind(&target.target)
        .bind(label)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("follow", "follow", e))?;
        let follow = follow_from(&row)?;
        super::commit(tx).await?;
        Ok(follow)
    }

    async fn list_follows(&self, user: UserId) -> Result<Vec<Follow>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLS} FROM follows WHERE user_id = $1 ORDER BY kind, created_at, id"
        ))
        .bind(user.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("list follows", "follow", e))?;
        rows.iter().map(follow_from).collect()
    }

    async fn get_follow(&self, user: UserId, id: FollowId) -> Result<Follow> {
        let row = sqlx::query(&format!(
            "SELECT {COLS} FROM follows WHERE id = $1 AND user_id = $2"
        ))
        .bind(id.to_string())
        .bind(user.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("read a follow", "follow", e))?;
        follow_from(&row.ok_or(Error::NotFound { entity: "follow" })?)
    }

    async fn mark_follow_seen(&self, user: UserId, id: FollowId, at: OffsetDateTime) -> Result<()> {
        let done = sqlx::query("UPDATE follows SET seen_at = $1 WHERE id = $2 AND user_id = $3")
            .bind(ms(at))
            .bind(id.to_string())
            .bind(user.to_string())
            .execute(&self.pool)
            .await
            .map_err(|e| Error::from_sqlx("mark a follow seen", "follow", e))?;
        not_found_unless(done.rows_affected(), "follow")
    }

    async fn delete_follow(&self, user: UserId, id: FollowId) -> Result<()> {
        let done = sqlx::query("DELETE FROM follows WHERE id = $1 AND user_id = $2")
            .bind(id.to_string())
            .bind(user.to_string())
            .execute(&self.pool)
            .await
            .map_err(|e| Error::from_sqlx("unfollow", "follow", e))?;
        not_found_unless(done.rows_affected(), "follow")
    }
}
