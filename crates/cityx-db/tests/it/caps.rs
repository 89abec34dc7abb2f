//! Conformance case: the caps per station and per person hold when many requests race for the
//! last places (each count and its insert are one step under the owner's row), on both
//! backends.

use crate::suite::{add_station, add_user, audit};
use cityx_core::follow::MAX_PER_USER;
use cityx_core::live::ChannelFields;
use cityx_core::webhook::WebhookFields;
use cityx_core::{AuditAction, ChannelId, FollowId, FollowTarget, Role, Visibility, WebhookId};
use cityx_db::Repo;
use std::sync::Arc;

/// Runs `n` inserts at once; how many succeeded.
async fn race<F, Fut>(n: usize, insert: F) -> usize
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = bool> + Send + 'static,
{
    let tasks: Vec<_> = (0..n).map(|i| tokio::spawn(insert(i))).collect();
    let mut ok = 0;
    for t in tasks {
        ok += usize::from(t.await.expect("task"));
    }
    ok
}

pub async fn caps_hold_when_requests_race_for_the_last_places(repo: Arc<dyn Repo>) {
    let st = add_station(&repo, "cap").await;
    let admin = add_user(&repo, "admin@cap.cn", Role::StationAdmin, Some(st.id)).await;

    let webhooks = cityx_core::webhook::MAX_PER_STATION;
    let made = race(webhooks + 8, |i| {
        let repo = repo.clone();
        async move {
            let fields = WebhookFields {
                url: format!("https://hooks.example.cn/{i}"),
                kinds: vec![],
            };
            repo.insert_webhook(
                WebhookId::new(),
                st.id,
                &fields,
                "whsec_test",
                admin.id,
                &audit(AuditAction::WebhookCreated, Some(st.id)),
            )
            .await
            .is_ok()
        }
    })
    .await;
    assert_eq!(made, webhooks, "webhooks of one station");

    let channels = usize::try_from(cityx_core::live::MAX_PER_STATION).expect("cap");
    let made = race(channels + 8, |i| {
        let repo = repo.clone();
        async move {
            let fields = ChannelFields {
                name: format!("频道{i}"),
                description: String::new(),
                visibility: Visibility::Private,
                shared_with: vec![],
                max_kbps: 0,
                max_height: 0,
                dvr_minutes: 60,
                record: false,
                pull_url: None,
                publish_cidrs: vec![],
                renditions: vec![],
                record_windows: vec![],
            };
            repo.insert_channel(
                ChannelId::new(),
                st.id,
                &fields,
                &format!("hash-{i}"),
                "hint",
                admin.id,
                &audit(AuditAction::ChannelCreated, Some(st.id)),
            )
            .await
            .is_ok()
        }
    })
    .await;
    assert_eq!(made, channels, "channels of one station");

    let made = race(MAX_PER_USER + 8, |i| {
        let repo = repo.clone();
        async move {
            let target = FollowTarget::parse("keyword", &format!("词{i}")).expect("keyword");
            repo.insert_follow(FollowId::new(), admin.id, &target, "x")
                .await
                .is_ok()
        }
    })
    .await;
    assert_eq!(made, MAX_PER_USER, "follows of one person");
}
