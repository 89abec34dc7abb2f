//! Conformance cases of live channels: who may watch which (the SQL against the rule in
//! `cityx_core::live`), keys that stop when rotated or deleted, and the hold that lets one
//! publishing session at a time have a channel.

use crate::suite::{add_station, add_user, audit};
use cityx_core::live::{ChannelFields, ChannelState, Health};
use cityx_core::{
    Actor, AuditAction, ChannelId, Role, ScopeSet, StationId, TenantScope, Visibility,
};
use cityx_db::Repo;
use std::sync::Arc;
use std::time::Duration;

fn fields(name: &str, visibility: Visibility, shared_with: Vec<StationId>) -> ChannelFields {
    ChannelFields {
        name: name.into(),
        description: String::new(),
        visibility,
        shared_with,
        max_kbps: 0,
        max_height: 0,
        dvr_minutes: 60,
        record: false,
    }
}

fn viewer(station: StationId) -> Actor {
    Actor {
        user_id: None,
        label: "viewer".into(),
        role: Role::Viewer,
        station_id: Some(station),
        scopes: ScopeSet::ALL,
        token_id: None,
        ip: None,
    }
}

pub async fn channels_are_watched_as_shared_and_held_by_one_session(repo: Arc<dyn Repo>) {
    let (a, b, c) = (
        add_station(&repo, "lva").await,
        add_station(&repo, "lvb").await,
        add_station(&repo, "lvc").await,
    );
    let admin = add_user(&repo, "admin@lva.cn", Role::StationAdmin, Some(a.id)).await;
    let mut made = Vec::new();
    for (name, vis, shared) in [
        ("own", Visibility::Private, vec![]),
        ("named", Visibility::Stations, vec![b.id]),
        ("all", Visibility::Exchange, vec![]),
        ("public", Visibility::Public, vec![]),
    ] {
        let id = ChannelId::new();
        repo.insert_channel(
            id,
            a.id,
            &fields(name, vis, shared),
            &format!("hash-{name}"),
            "hint",
            admin.id,
            &audit(AuditAction::ChannelCreated, Some(a.id)),
        )
        .await
        .expect("insert");
        made.push(id);
    }
    // The SQL agrees with the rule for every channel and viewer.
    let all = repo
        .list_watchable_channels(TenantScope::All)
        .await
        .expect("list");
    assert_eq!(all.len(), 4);
    for station in [a.id, b.id, c.id] {
        let scope = TenantScope::Station(station);
        let seen: Vec<ChannelId> = repo
            .list_watchable_channels(scope)
            .await
            .expect("list")
            .iter()
            .map(|ch| ch.id)
            .collect();
        for ch in &all {
            let rule = ch.watchable_by(&viewer(station));
            assert_eq!(seen.contains(&ch.id), rule, "{} for {station}", ch.name);
            assert_eq!(
                repo.get_watchable_channel(scope, ch.id).await.is_ok(),
                rule,
                "{}",
                ch.name
            );
        }
    }
    assert!(
        repo.list_watchable_channels(TenantScope::Nothing)
            .await
            .expect("list")
            .iter()
            .all(|ch| ch.visibility == Visibility::Exchange || ch.visibility == Visibility::Public),
        "a caller of no station sees only what every station may"
    );
    // Changes are for the own station only.
    let own = made[0];
    let other = TenantScope::Station(b.id);
    assert!(repo.get_channel(other, own).await.is_err());
    assert!(
        repo.update_channel(
            other,
            own,
            &fields("x", Visibility::Exchange, vec![]),
            &audit(AuditAction::ChannelUpdated, Some(b.id))
        )
        .await
        .is_err()
    );

    // A key finds its channel until it is rotated.
    let by_key = repo.channel_by_key("hash-all").await.expect("key");
    assert_eq!(by_key.map(|ch| ch.id), Some(made[2]));
    repo.rotate_channel_key(
        TenantScope::Station(a.id),
        made[2],
        "hash-new",
        "new1",
        &audit(AuditAction::ChannelKeyRotated, Some(a.id)),
    )
    .await
    .expect("rotate");
    assert!(
        repo.channel_by_key("hash-all")
            .await
            .expect("old")
            .is_none()
    );
    assert!(
        repo.channel_by_key("hash-new")
            .await
            .expect("new")
            .is_some()
    );

    // One session holds a channel; another is refused until the first ends or lapses.
    let ch = made[2];
    let soon = || cityx_core::now() + Duration::from_secs(60);
    assert!(
        repo.hold_channel(ch, "s1", "n1", soon())
            .await
            .expect("hold")
    );
    assert!(
        !repo
            .hold_channel(ch, "s2", "n2", soon())
            .await
            .expect("hold")
    );
    let health = Health {
        video_codec: "h264".into(),
        width: 1280,
        height: 720,
        ..Health::default()
    };
    assert!(
        repo.renew_channel(ch, "s1", soon(), &health)
            .await
            .expect("renew")
    );
    assert!(
        !repo
            .renew_channel(ch, "s2", soon(), &health)
            .await
            .expect("renew")
    );
    let live = repo
        .get_watchable_channel(TenantScope::Station(c.id), ch)
        .await
        .expect("read");
    assert_eq!(live.state, ChannelState::Live);
    assert!(live.live_since.is_some());
    assert_eq!(live.health.as_ref().map(|h| h.width), Some(1280));
    repo.release_channel(ch, "s1", &health)
        .await
        .expect("release");
    let idle = repo.get_channel(TenantScope::All, ch).await.expect("read");
    assert_eq!(idle.state, ChannelState::Idle);
    assert_eq!(
        idle.health.map(|h| h.height),
        Some(720),
        "the last report stays"
    );
    // A hold that lapsed (its node died) is taken by the next session.
    let past = cityx_core::now() - Duration::from_secs(1);
    assert!(repo.hold_channel(ch, "s3", "n3", past).await.expect("hold"));
    assert!(
        repo.hold_channel(ch, "s4", "n4", soon())
            .await
            .expect("take over")
    );
    assert!(
        !repo
            .renew_channel(ch, "s3", soon(), &health)
            .await
            .expect("renew")
    );
    // Rotating the key ends the hold: a publisher with a leaked key is cut off.
    repo.rotate_channel_key(
        TenantScope::Station(a.id),
        ch,
        "hash-rotated",
        "rot1",
        &audit(AuditAction::ChannelKeyRotated, Some(a.id)),
    )
    .await
    .expect("rotate");
    let cut = repo.renew_channel(ch, "s4", soon(), &health).await;
    assert!(!cut.expect("renew"), "the old key's session is cut");
    let next = repo.hold_channel(ch, "s5", "n5", soon()).await;
    assert!(next.expect("hold"), "the new key's publisher takes it");

    // A deleted channel is gone, its key with it.
    repo.delete_channel(
        TenantScope::Station(a.id),
        ch,
        &audit(AuditAction::ChannelDeleted, Some(a.id)),
    )
    .await
    .expect("delete");
    assert!(
        repo.channel_by_key("hash-rotated")
            .await
            .expect("key")
            .is_none()
    );
    assert!(repo.get_channel(TenantScope::All, ch).await.is_err());
    assert!(
        !repo
            .renew_channel(ch, "s5", soon(), &health)
            .await
            .expect("renew")
    );
}
