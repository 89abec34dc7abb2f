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
        pull_url: None,
        publish_cidrs: Vec::new(),
        renditions: Vec::new(),
        record_windows: Vec::new(),
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

/// Restream targets belong to their channel's station: another station neither sees nor
/// changes them, a change without a key keeps the sealed one, ten is the most, the push reads
/// the enabled ones with their sealed keys, and reports come back in the listing.
pub async fn restream_targets_stay_with_their_station(repo: Arc<dyn Repo>) {
    use cityx_core::TargetId;
    use cityx_core::live::target::{MAX_PER_CHANNEL, TargetReport, TargetState};
    use cityx_db::TargetRow;
    let (a, b) = (
        add_station(&repo, "rta").await,
        add_station(&repo, "rtb").await,
    );
    let admin = add_user(&repo, "admin@rta.cn", Role::StationAdmin, Some(a.id)).await;
    let channel = ChannelId::new();
    repo.insert_channel(
        channel,
        a.id,
        &fields("push", Visibility::Exchange, vec![]),
        "hash-push",
        "hint",
        admin.id,
        &audit(AuditAction::ChannelCreated, Some(a.id)),
    )
    .await
    .expect("insert");
    let (own, other) = (TenantScope::Station(a.id), TenantScope::Station(b.id));
    let row = |name: &'static str, key: Option<(&'static str, &'static str)>, enabled| TargetRow {
        name,
        url: "rtmp://push.example.org/live",
        key,
        enabled,
        passphrase: None,
    };
    let first = TargetId::new();
    let add = |id, scope, row| {
        let repo = repo.clone();
        async move {
            repo.insert_target(
                scope,
                channel,
                id,
                &row,
                &audit(AuditAction::TargetCreated, Some(a.id)),
            )
            .await
        }
    };
    let refused = add(TargetId::new(), other, row("x", Some(("s", "h")), true)).await;
    assert!(refused.expect_err("other station").is_not_found());
    add(first, own, row("央视频", Some(("sealed-1", "ey-1")), true))
        .await
        .expect("add");
    assert!(
        repo.list_targets(other, channel)
            .await
            .expect("list")
            .is_empty()
    );
    assert!(
        repo.get_target(other, channel, first)
            .await
            .expect_err("hidden")
            .is_not_found()
    );
    let change = repo
        .update_target(
            other,
            channel,
            first,
            &row("y", None, false),
            &audit(AuditAction::TargetUpdated, Some(b.id)),
        )
        .await;
    assert!(change.expect_err("other station").is_not_found());
    let with_passphrase = TargetRow {
        passphrase: Some(Some("sealed-pass")),
        ..row("央视频直播", None, true)
    };
    repo.update_target(
        own,
        channel,
        first,
        &with_passphrase,
        &audit(AuditAction::TargetUpdated, Some(a.id)),
    )
    .await
    .expect("change");
    let pushed = repo.targets_to_push(channel).await.expect("push");
    assert_eq!(pushed[0].passphrase_sealed.as_deref(), Some("sealed-pass"));
    assert!(pushed[0].target.has_passphrase);
    repo.update_target(
        own,
        channel,
        first,
        &row("央视频直播", None, true),
        &audit(AuditAction::TargetUpdated, Some(a.id)),
    )
    .await
    .expect("change");
    let pushed = repo.targets_to_push(channel).await.expect("push");
    assert_eq!(
        pushed[0].passphrase_sealed.as_deref(),
        Some("sealed-pass"),
        "a change without a passphrase keeps it"
    );
    let cleared = TargetRow {
        passphrase: Some(None),
        ..row("央视频直播", None, true)
    };
    repo.update_target(
        own,
        channel,
        first,
        &cleared,
        &audit(AuditAction::TargetUpdated, Some(a.id)),
    )
    .await
    .expect("change");
    let pushed = repo.targets_to_push(channel).await.expect("push");
    assert_eq!(pushed[0].passphrase_sealed, None, "removed");
    assert_eq!(pushed.len(), 1);
    assert_eq!(
        pushed[0].key_sealed, "sealed-1",
        "a change without a key keeps it"
    );
    assert_eq!(pushed[0].target.name, "央视频直播");
    assert_eq!(pushed[0].target.key_hint, "ey-1");
    for _ in 1..MAX_PER_CHANNEL {
        add(TargetId::new(), own, row("off", Some(("s", "h")), false))
            .await
            .expect("add up to the most");
    }
    let over = add(TargetId::new(), own, row("over", Some(("s", "h")), true)).await;
    assert!(
        matches!(
            over,
            Err(cityx_db::Error::WrongState {
                entity: "target",
                ..
            })
        ),
        "{over:?}"
    );
    assert_eq!(
        repo.targets_to_push(channel).await.expect("push").len(),
        1,
        "only enabled targets are pushed"
    );
    let report = TargetReport {
        state: Some(TargetState::Retrying),
        error: "connection refused".into(),
        error_code: Some(cityx_core::live::Trouble::Unreachable),
        bytes: 1234,
        kbps: 56,
        attempts: 3,
    };
    repo.report_targets(&[(first, report)])
        .await
        .expect("report");
    let seen = repo.get_target(own, channel, first).await.expect("get");
    assert_eq!(seen.state, TargetState::Retrying);
    assert_eq!((seen.bytes, seen.kbps, seen.attempts), (1234, 56, 3));
    assert_eq!(seen.error, "connection refused");
    assert_eq!(
        seen.error_code,
        Some(cityx_core::live::Trouble::Unreachable)
    );
    assert!(seen.reported_at.is_some());
    let gone = repo
        .delete_target(
            other,
            channel,
            first,
            &audit(AuditAction::TargetDeleted, Some(b.id)),
        )
        .await;
    assert!(gone.expect_err("other station").is_not_found());
    repo.delete_target(
        own,
        channel,
        first,
        &audit(AuditAction::TargetDeleted, Some(a.id)),
    )
    .await
    .expect("delete");
    assert_eq!(
        repo.list_targets(own, channel).await.expect("list").len() as i64,
        MAX_PER_CHANNEL - 1
    );
    assert!(
        repo.targets_to_push(channel)
            .await
            .expect("push")
            .is_empty()
    );
}

/// Channels that pull are offered to the pullers while no session holds them, and the pull
/// address comes back as stored.
pub async fn pulling_channels_are_offered_while_unheld(repo: Arc<dyn Repo>) {
    let a = add_station(&repo, "pla").await;
    let admin = add_user(&repo, "admin@pla.cn", Role::StationAdmin, Some(a.id)).await;
    let (pulling, pushed) = (ChannelId::new(), ChannelId::new());
    for (id, pull) in [
        (pulling, Some("rtmp://origin.example.org/live/news")),
        (pushed, None),
    ] {
        let mut f = fields("p", Visibility::Private, vec![]);
        f.pull_url = pull.map(str::to_owned);
        repo.insert_channel(
            id,
            a.id,
            &f,
            &format!("hash-{id}"),
            "hint",
            admin.id,
            &audit(AuditAction::ChannelCreated, Some(a.id)),
        )
        .await
        .expect("insert");
    }
    let offered = |repo: Arc<dyn Repo>| async move {
        repo.unheld_pull_channels()
            .await
            .expect("list")
            .iter()
            .map(|c| c.id)
            .collect::<Vec<_>>()
    };
    let seen = offered(repo.clone()).await;
    assert!(
        seen.contains(&pulling) && !seen.contains(&pushed),
        "{seen:?}"
    );
    let ch = repo
        .get_channel(TenantScope::Station(a.id), pulling)
        .await
        .expect("get");
    assert_eq!(
        ch.pull_url.as_deref(),
        Some("rtmp://origin.example.org/live/news")
    );
    assert!(ch.publish_cidrs.is_empty() && ch.srt_passphrase_hint.is_empty());
    // Who may publish: an allow-list and an SRT passphrase, kept sealed.
    let mut f = fields("p", Visibility::Private, vec![]);
    f.pull_url = ch.pull_url.clone();
    f.publish_cidrs = vec!["203.0.113.0/24".into(), "2001:db8::/32".into()];
    f.renditions = vec![720, 360];
    f.record_windows = vec!["19:00:00-19:30:00".into()];
    repo.update_channel(
        TenantScope::Station(a.id),
        pulling,
        &f,
        &audit(AuditAction::ChannelUpdated, Some(a.id)),
    )
    .await
    .expect("update");
    let other = add_station(&repo, "plb").await;
    let set = |scope| {
        let repo = repo.clone();
        async move {
            repo.set_channel_passphrase(
                scope,
                pulling,
                Some(("sealed-pass", "6789")),
                &audit(AuditAction::ChannelUpdated, Some(a.id)),
            )
            .await
        }
    };
    assert!(
        set(TenantScope::Station(other.id)).await.is_err(),
        "another station's"
    );
    set(TenantScope::Station(a.id)).await.expect("set");
    let ch = repo
        .get_channel(TenantScope::Station(a.id), pulling)
        .await
        .expect("get");
    assert_eq!(ch.publish_cidrs, f.publish_cidrs);
    assert_eq!(ch.renditions, [720, 360]);
    assert_eq!(ch.record_windows, ["19:00:00-19:30:00"]);
    assert_eq!(ch.srt_passphrase_hint, "6789");
    assert_eq!(
        repo.channel_passphrase(pulling)
            .await
            .expect("read")
            .as_deref(),
        Some("sealed-pass")
    );
    assert_eq!(repo.channel_passphrase(pushed).await.expect("read"), None);
    repo.set_channel_passphrase(
        TenantScope::Station(a.id),
        pulling,
        None,
        &audit(AuditAction::ChannelUpdated, Some(a.id)),
    )
    .await
    .expect("clear");
    assert_eq!(repo.channel_passphrase(pulling).await.expect("read"), None);
    let until = cityx_core::now() + Duration::from_secs(6);
    assert!(
        repo.hold_channel(pulling, "s1", "n1", until)
            .await
            .expect("hold")
    );
    assert!(!offered(repo.clone()).await.contains(&pulling), "held");
    repo.release_channel(pulling, "s1", &Health::default())
        .await
        .expect("release");
    assert!(offered(repo.clone()).await.contains(&pulling), "free again");
    // A publisher takes over from the pull (its backup), not from another publisher.
    assert!(
        repo.hold_channel(pulling, "pull-1", "n1", until)
            .await
            .expect("hold")
    );
    assert!(
        !repo
            .hold_channel(pulling, "push-1", "n2", until)
            .await
            .expect("hold")
    );
    assert!(
        repo.take_over_channel(pulling, "push-1", "n2", until)
            .await
            .expect("take over")
    );
    assert!(
        !repo
            .renew_channel(pulling, "pull-1", until, &Health::default())
            .await
            .expect("renew"),
        "the pull lost it"
    );
    assert!(
        !repo
            .take_over_channel(pulling, "push-2", "n3", until)
            .await
            .expect("take over"),
        "a publisher keeps it"
    );
    // The publisher's input drops: its slate takes the hold, keeps the broadcast's start,
    // and is offered to the pullers, whose pull takes the channel back from it.
    let since = repo
        .get_channel(TenantScope::All, pulling)
        .await
        .expect("get")
        .live_since;
    let dropped = Health {
        slate: true,
        ..Health::default()
    };
    assert!(
        repo.hand_over_channel(pulling, "push-1", "slate-1", until, &dropped)
            .await
            .expect("hand over")
    );
    assert!(
        !repo
            .hand_over_channel(pulling, "push-1", "slate-2", until, &dropped)
            .await
            .expect("hand over"),
        "only the holder hands over"
    );
    let slated = repo
        .get_channel(TenantScope::All, pulling)
        .await
        .expect("get");
    assert_eq!(slated.live_since, since, "one broadcast");
    assert!(slated.health.is_some_and(|h| h.slate));
    assert!(
        offered(repo.clone()).await.contains(&pulling),
        "on its slate"
    );
    assert!(
        repo.hold_channel(pulling, "pull-2", "n1", until)
            .await
            .expect("hold"),
        "the pull takes it from the slate"
    );
    assert!(
        !repo
            .renew_channel(pulling, "slate-1", until, &Health::default())
            .await
            .expect("renew"),
        "the slate lost it"
    );
    assert!(
        !repo
            .hold_channel(pulling, "pull-3", "n2", until)
            .await
            .expect("hold"),
        "a pull keeps it from another pull"
    );
    assert!(
        repo.take_over_channel(pulling, "push-1", "n2", until)
            .await
            .expect("take over")
    );
    repo.release_channel(pulling, "push-1", &Health::default())
        .await
        .expect("release");
    // Switched to being published to, it is no longer offered.
    let mut f = fields("p", Visibility::Private, vec![]);
    f.pull_url = None;
    repo.update_channel(
        TenantScope::Station(a.id),
        pulling,
        &f,
        &audit(AuditAction::ChannelUpdated, Some(a.id)),
    )
    .await
    .expect("update");
    assert!(!offered(repo).await.contains(&pulling));
}
