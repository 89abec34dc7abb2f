//! Follows (关注): an editor follows a topic zone, a keyword or a station; the follows page
//! shows, for each, how many items it has gained since the last look and the latest of them,
//! found by the search index under the reader's rights. Opening one records the look.

use crate::{Error, Result};
use cityx_core::{Actor, Follow, FollowId, FollowKind, FollowTarget, policy};
use cityx_search::{Filters, Hit, Request, Sort};

/// Follows of keywords and zones. See [`App::follows`](crate::App::follows). It asks the zones and the exchange
/// contexts, through their public calls.
#[derive(Clone, Copy)]
pub struct Follows<'a> {
    pub(crate) follows: &'a dyn cityx_db::FollowRepo,
    pub(crate) zones: crate::Zones<'a>,
    pub(crate) people: crate::People<'a>,
    pub(crate) exchange: crate::Exchange<'a>,
}

/// Items shown per follow.
const LATEST: usize = 5;

/// A follow with what is new there.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct FollowNews {
    pub follow: Follow,
    /// Ready items made since the last look that the reader may see.
    pub new_items: usize,
    /// The newest of them.
    pub latest: Vec<Hit>,
}

/// The search that finds a follow's items (made at or after `since`, epoch ms, when given).
fn follow_request(f: &Follow, since: Option<i64>, limit: usize) -> Request {
    let mut filters = Filters {
        status: Some("ready".into()),
        from: since,
        ..Filters::default()
    };
    let mut q = String::new();
    match f.kind {
        FollowKind::Keyword => q = f.target.clone(),
        FollowKind::Zone => filters.zone = Some(f.target.clone()),
        FollowKind::Station => filters.station = f.target.parse().ok(),
    }
    Request {
        q,
        filters,
        sort: Sort::Newest,
        offset: 0,
        limit,
        skip_facets: true,
    }
}

impl Follows<'_> {
    /// Follows a zone, a keyword or a station (anyone who may read).
    pub async fn follow(&self, actor: &Actor, kind: &str, target: &str) -> Result<Follow> {
        policy::read(actor)?;
        let user = actor.user_id.ok_or(Error::Forbidden)?;
        let t = FollowTarget::parse(kind, target)?;
        let unknown = || Error::field("target", "not_found", "no such zone or station");
        let label = match t.kind {
            FollowKind::Keyword => t.target.clone(),
            FollowKind::Zone => {
                let id = t.target.parse().map_err(|_| unknown())?;
                match self.zones.get_zone(actor, id).await {
                    Ok(v) => v.zone.title,
                    Err(e) if e.is_not_found() => return Err(unknown()),
                    Err(e) => return Err(e),
                }
            }
            FollowKind::Station => self
                .people
                .station_directory(actor)
                .await?
                .into_iter()
                .find(|s| s.id.to_string() == t.target)
                .map(|s| s.name)
                .ok_or_else(unknown)?,
        };
        self.follows
            .insert_follow(FollowId::new(), user, &t, &label)
            .await
            .map_err(|e| match e {
                cityx_db::Error::Conflict { .. } => {
                    Error::field("target", "already_followed", "this is followed already")
                }
                cityx_db::Error::WrongState { .. } => Error::field(
                    "target",
                    "too_many",
                    format!(
                        "one follows at most {} things",
                        cityx_core::follow::MAX_PER_USER
                    ),
                ),
                e => e.into(),
            })
    }

    /// The caller's follows, each with what is new since the last look.
    pub async fn follows(&self, actor: &Actor) -> Result<Vec<FollowNews>> {
        policy::read(actor)?;
        let user = actor.user_id.ok_or(Error::Forbidden)?;
        let mut out = Vec::new();
        for follow in self.follows.list_follows(user).await? {
            let since = cityx_core::epoch_ms(follow.seen_at);
            let found = self
                .exchange
                .search_as(actor, follow_request(&follow, Some(since), LATEST))
                .await?;
            out.push(FollowNews {
                new_items: found.total,
                latest: found.hits,
                follow,
            });
        }
        Ok(out)
    }

    /// Records a look at a follow (what was new is no longer), and returns it.
    pub async fn look_at_follow(&self, actor: &Actor, id: FollowId) -> Result<Follow> {
        policy::read(actor)?;
        let user = actor.user_id.ok_or(Error::Forbidden)?;
        self.follows
            .mark_follow_seen(user, id, cityx_core::now())
            .await?;
        Ok(self.follows.get_follow(user, id).await?)
    }

    pub async fn unfollow(&self, actor: &Actor, id: FollowId) -> Result<()> {
        policy::read(actor)?;
        let user = actor.user_id.ok_or(Error::Forbidden)?;
        Ok(self.follows.delete_follow(user, id).await?)
    }
}
