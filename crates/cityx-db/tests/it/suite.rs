use cityx_core::{
    Actor, ApiToken, AuditAction, NewAudit, Region, Role, Scope, ScopeSet, Station, StationId,
    TenantScope, TokenId, TokenKind, User, UserId,
};
use cityx_db::{
    AuditFilter, PageRequest, Repo, SessionRow, StationLimits, TokenFilter, UploadProgress,
};
use std::sync::Arc;
use time::Duration;

fn station(code: &str) -> Station {
    let now = cityx_core::now();
    Station {
        id: StationId::new(),
        name: format!("{code} 电视台"),
        code: code.to_owned(),
        city: "杭州".into(),
        province: "浙江".into(),
        region: Region::East,
        contact_name: String::new(),
        contact_phone: String::new(),
        contact_email: String::new(),
        default_visibility: cityx_core::Visibility::Exchange,
        created_at: now,
        updated_at: now,
    }
}

fn user(email: &str, role: Role, station: Option<StationId>) -> User {
    let now = cityx_core::now();
    User {
        id: UserId::new(),
        email: email.to_owned(),
        display_name: email.split('@').next().unwrap_or("x").to_owned(),
        role,
        station_id: station,
        disabled: false,
        created_at: now,
        updated_at: now,
        last_login_at: None,
    }
}

pub(crate) fn audit(action: AuditAction, station: Option<StationId>) -> NewAudit {
    NewAudit::by(&Actor::system(), action, "test", "t", station)
}

pub(crate) async fn add_station(repo: &Arc<dyn Repo>, code: &str) -> Station {
    let s = station(code);
    repo.insert_station(&s, &audit(AuditAction::StationCreated, Some(s.id)))
        .await
        .expect("insert station");
    s
}

pub(crate) async fn add_user(
    repo: &Arc<dyn Repo>,
    email: &str,
    role: Role,
    st: Option<StationId>,
) -> User {
    let u = user(email, role, st);
    repo.insert_user(&u, "hash", &audit(AuditAction::UserCreated, st))
        .await
        .expect("insert user");
    u
}

async fn audit_count(repo: &Arc<dyn Repo>) -> usize {
    let f = AuditFilter {
        scope: TenantScope::All,
        station: None,
        action: None,
    };
    repo.list_audit(&f, &PageRequest::first(500))
        .await
        .expect("list audit")
        .items
        .len()
}

pub async fn stations_are_scoped(repo: Arc<dyn Repo>) {
    let a = add_station(&repo, "aaa").await;
    let b = add_station(&repo, "bbb").await;
    let own = TenantScope::Station(a.id);

    assert_eq!(
        repo.get_station(TenantScope::All, b.id).await.expect("get"),
        b
    );
    assert_eq!(repo.get_station(own, a.id).await.expect("own"), a);
    assert_eq!(
        repo.find_station_by_code(own, "aaa")
            .await
            .expect("by code"),
        a
    );
    assert!(
        repo.find_station_by_code(own, "bbb")
            .await
            .expect_err("other")
            .is_not_found()
    );
    assert_eq!(
        repo.find_station_by_code(TenantScope::All, "bbb")
            .await
            .expect("by code"),
        b
    );
    assert!(
        repo.get_station(own, b.id)
            .await
            .expect_err("other")
            .is_not_found()
    );
    assert!(
        repo.get_station(TenantScope::Nothing, a.id)
            .await
            .expect_err("nothing")
            .is_not_found()
    );

    let listed = repo
        .list_stations(own, &PageRequest::default())
        .await
        .expect("list");
    assert_eq!(listed.items, vec![a.clone()]);
    let all = repo
        .list_stations(TenantScope::All, &PageRequest::default())
        .await
        .expect("list");
    assert_eq!(all.items.len(), 2);

    let mut changed = b.clone();
    changed.name = "改名".into();
    let before = audit_count(&repo).await;
    let err = repo
        .update_station(
            own,
            &changed,
            &audit(AuditAction::StationUpdated, Some(b.id)),
        )
        .await
        .expect_err("cross-station update");
    assert!(err.is_not_found());
    assert_eq!(
        repo.get_station(TenantScope::All, b.id)
            .await
            .expect("get")
            .name,
        b.name
    );
    assert_eq!(
        audit_count(&repo).await,
        before,
        "a refused update writes no audit entry"
    );

    repo.update_station(
        TenantScope::All,
        &changed,
        &audit(AuditAction::StationUpdated, Some(b.id)),
    )
    .await
    .expect("update");
    assert_eq!(
        repo.get_station(TenantScope::All, b.id)
            .await
            .expect("get")
            .name,
        "改名"
    );
}

pub async fn station_codes_are_unique_and_failed_writes_leave_no_audit(repo: Arc<dyn Repo>) {
    add_station(&repo, "dup").await;
    let before = audit_count(&repo).await;
    let err = repo
        .insert_station(&station("dup"), &audit(AuditAction::StationCreated, None))
        .await
        .expect_err("duplicate code");
    assert!(err.is_conflict(), "{err:?}");
    assert!(
        matches!(err, cityx_db::Error::Conflict { ref field, .. } if field == "code"),
        "{err:?}"
    );
    assert_eq!(audit_count(&repo).await, before);
}

pub async fn pages_cover_every_row_once(repo: Arc<dyn Repo>) {
    let mut want = Vec::new();
    for i in 0..5 {
        want.push(add_station(&repo, &format!("p{i}")).await.id);
    }
    let mut got = Vec::new();
    let mut req = PageRequest::first(2);
    let mut pages = 0;
    loop {
        let page = repo
            .list_stations(TenantScope::All, &req)
            .await
            .expect("page");
        pages += 1;
        got.extend(page.items.iter().map(|s| s.id));
        match page.next {
            Some(next) => req.after = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(got, want, "ids in creation order, each once");
}

pub async fn users_are_scoped(repo: Arc<dyn Repo>) {
    let a = add_station(&repo, "ua").await;
    let b = add_station(&repo, "ub").await;
    let hub = add_user(&repo, "hub@x.cn", Role::HubAdmin, None).await;
    let ua = add_user(&repo, "a@x.cn", Role::Editor, Some(a.id)).await;
    let ub = add_user(&repo, "b@x.cn", Role::Viewer, Some(b.id)).await;
    let own = TenantScope::Station(a.id);

    assert_eq!(repo.count_users().await.expect("count"), 3);
    assert_eq!(repo.get_user(own, ua.id).await.expect("own"), ua);
    assert!(
        repo.get_user(own, ub.id)
            .await
            .expect_err("other")
            .is_not_found()
    );
    assert!(
        repo.get_user(own, hub.id)
            .await
            .expect_err("hub")
            .is_not_found()
    );

    let mine = repo
        .list_users(own, None, &PageRequest::default())
        .await
        .expect("list");
    assert_eq!(mine.items, vec![ua.clone()]);
    // Asking for another station's users from inside a station yields nothing.
    let sneaky = repo
        .list_users(own, Some(b.id), &PageRequest::default())
        .await
        .expect("list");
    assert!(sneaky.items.is_empty());
    let all_b = repo
        .list_users(TenantScope::All, Some(b.id), &PageRequest::default())
        .await
        .expect("list");
    assert_eq!(all_b.items, vec![ub.clone()]);

    let dup = repo
        .insert_user(
            &user("a@x.cn", Role::Viewer, Some(b.id)),
            "h",
            &audit(AuditAction::UserCreated, None),
        )
        .await
        .expect_err("duplicate email");
    assert!(
        matches!(dup, cityx_db::Error::Conflict { ref field, .. } if field == "email"),
        "{dup:?}"
    );

    let (found, hash) = repo
        .find_login("b@x.cn")
        .await
        .expect("find")
        .expect("exists");
    assert_eq!(found, ub);
    assert_eq!(hash, "hash");
    assert!(
        repo.find_login("nobody@x.cn")
            .await
            .expect("find")
            .is_none()
    );
}

pub async fn user_changes_and_passwords(repo: Arc<dyn Repo>) {
    let a = add_station(&repo, "uc").await;
    let b = add_station(&repo, "ud").await;
    let u = add_user(&repo, "c@x.cn", Role::Viewer, Some(a.id)).await;
    let now = cityx_core::now();
    let session = SessionRow {
        id_hash: "s1".into(),
        user_id: u.id,
        csrf_token: "c".into(),
        created_at: now,
        expires_at: now + Duration::hours(1),
        ip: None,
        user_agent: None,
    };
    repo.insert_session(&session).await.expect("session");

    let mut changed = u.clone();
    changed.role = Role::Editor;
    changed.display_name = "新名字".into();
    let err = repo
        .update_user(TenantScope::Station(b.id), &changed, false, &[])
        .await
        .expect_err("other station");
    assert!(err.is_not_found());
    repo.update_user(
        TenantScope::Station(a.id),
        &changed,
        false,
        &[audit(AuditAction::RoleChanged, Some(a.id))],
    )
    .await
    .expect("update");
    let got = repo.get_user(TenantScope::All, u.id).await.expect("get");
    assert_eq!(
        (got.role, got.display_name.as_str()),
        (Role::Editor, "新名字")
    );
    assert!(repo.find_session("s1", now).await.expect("find").is_some());

    let err = repo
        .set_password(
            TenantScope::Station(b.id),
            u.id,
            "new",
            &audit(AuditAction::PasswordReset, None),
        )
        .await
        .expect_err("other station");
    assert!(err.is_not_found());
    assert_eq!(
        repo.find_login("c@x.cn").await.expect("f").expect("u").1,
        "hash"
    );

    repo.set_password(
        TenantScope::All,
        u.id,
        "new",
        &audit(AuditAction::PasswordReset, None),
    )
    .await
    .expect("reset");
    assert_eq!(
        repo.find_login("c@x.cn").await.expect("f").expect("u").1,
        "new"
    );
    assert!(
        repo.find_session("s1", now).await.expect("find").is_none(),
        "a password change signs the user out"
    );

    let (attempt, _) = repo
        .begin_login_attempt(&audit(AuditAction::LoginFailed, None), now)
        .await
        .expect("attempt");
    repo.settle_login_attempt(
        attempt,
        &audit(AuditAction::LoginOk, Some(a.id)),
        Some((u.id, now)),
    )
    .await
    .expect("login");
    assert_eq!(
        repo.get_user(TenantScope::All, u.id)
            .await
            .expect("get")
            .last_login_at,
        Some(now)
    );
}

pub async fn database_enforces_role_station_rule(repo: Arc<dyn Repo>) {
    let a = add_station(&repo, "rr").await;
    let bad1 = user("x1@x.cn", Role::Editor, None);
    let bad2 = user("x2@x.cn", Role::HubEditor, Some(a.id));
    let bad3 = user("x3@x.cn", Role::Editor, Some(StationId::new()));
    for bad in [bad1, bad2, bad3] {
        let r = repo
            .insert_user(&bad, "h", &audit(AuditAction::UserCreated, None))
            .await;
        assert!(r.is_err(), "{:?} must be refused", bad.email);
    }
    assert_eq!(repo.count_users().await.expect("count"), 0);
}

fn token(owner: &User, expires_in: Duration) -> ApiToken {
    let now = cityx_core::now();
    ApiToken {
        id: TokenId::new(),
        user_id: owner.id,
        station_id: owner.station_id,
        name: "ci".into(),
        kind: TokenKind::Api,
        prefix: "cx_abcd".into(),
        scopes: ScopeSet::of(&[Scope::Read, Scope::Write]),
        created_at: now,
        expires_at: now + expires_in,
        revoked_at: None,
        last_used_at: None,
    }
}

pub async fn tokens_lifecycle(repo: Arc<dyn Repo>) {
    let a = add_station(&repo, "ta").await;
    let b = add_station(&repo, "tb").await;
    let ua = add_user(&repo, "ta@x.cn", Role::Editor, Some(a.id)).await;
    let ub = add_user(&repo, "tb@x.cn", Role::Editor, Some(b.id)).await;
    let live = token(&ua, Duration::days(1));
    let expired = token(&ua, Duration::seconds(-1));
    let other = token(&ub, Duration::days(1));
    repo.insert_token(
        &live,
        "h-live",
        None,
        &[audit(AuditAction::TokenCreated, Some(a.id))],
    )
    .await
    .expect("t");
    repo.insert_token(&expired, "h-exp", None, &[])
        .await
        .expect("t");
    repo.insert_token(&other, "h-other", None, &[])
        .await
        .expect("t");

    let (t, owner) = repo
        .find_token("h-live")
        .await
        .expect("find")
        .expect("exists");
    assert_eq!((t.clone(), owner), (live.clone(), ua.clone()));
    assert_eq!(t.station_id, Some(a.id));
    assert!(repo.find_token("nope").await.expect("find").is_none());

    let now = cityx_core::now();
    let filter = |scope, include_inactive| TokenFilter {
        scope,
        user_id: None,
        include_inactive,
        now,
    };
    let active = repo
        .list_tokens(
            &filter(TenantScope::Station(a.id), false),
            &PageRequest::default(),
        )
        .await
        .expect("l");
    assert_eq!(active.items, vec![live.clone()]);
    let every = repo
        .list_tokens(
            &filter(TenantScope::Station(a.id), true),
            &PageRequest::default(),
        )
        .await
        .expect("l");
    assert_eq!(every.items.len(), 2);
    let mut by_user = filter(TenantScope::All, true);
    by_user.user_id = Some(ub.id);
    assert_eq!(
        repo.list_tokens(&by_user, &PageRequest::default())
            .await
            .expect("l")
            .items,
        vec![other.clone()]
    );

    let revoke = audit(AuditAction::TokenRevoked, Some(b.id));
    let err = repo
        .revoke_token(TenantScope::Station(a.id), other.id, now, &revoke)
        .await
        .expect_err("cross");
    assert!(err.is_not_found());
    assert!(
        repo.get_token(TenantScope::All, other.id)
            .await
            .expect("get")
            .revoked_at
            .is_none()
    );

    let before = audit_count(&repo).await;
    repo.revoke_token(TenantScope::Station(a.id), live.id, now, &revoke)
        .await
        .expect("revoke");
    repo.revoke_token(TenantScope::Station(a.id), live.id, now, &revoke)
        .await
        .expect("again");
    assert_eq!(
        audit_count(&repo).await,
        before + 1,
        "revoking twice is recorded once"
    );
    assert_eq!(
        repo.get_token(TenantScope::All, live.id)
            .await
            .expect("get")
            .revoked_at,
        Some(now)
    );

    repo.touch_token(other.id, now).await.expect("touch");
    assert_eq!(
        repo.get_token(TenantScope::All, other.id)
            .await
            .expect("get")
            .last_used_at,
        Some(now)
    );

    // A token made with a token, and one made with that: revoking the first revokes both,
    // and leaves a token made by someone else alone.
    let root = token(&ub, Duration::days(1));
    let child = token(&ub, Duration::days(1));
    let grandchild = token(&ub, Duration::days(1));
    for (t, hash, parent) in [
        (&root, "h-root", None),
        (&child, "h-child", Some(root.id)),
        (&grandchild, "h-grand", Some(child.id)),
    ] {
        repo.insert_token(t, hash, parent, &[]).await.expect("t");
    }
    repo.revoke_token(TenantScope::All, root.id, now, &revoke)
        .await
        .expect("revoke the maker");
    for t in [&root, &child, &grandchild] {
        let got = repo.get_token(TenantScope::All, t.id).await.expect("get");
        assert_eq!(got.revoked_at, Some(now), "{}", t.id);
    }
    assert_eq!(
        repo.get_token(TenantScope::All, other.id)
            .await
            .expect("get")
            .revoked_at,
        None
    );

    // A new password revokes every token of the user, and what they made.
    let mine = token(&ub, Duration::days(1));
    let made = token(&ua, Duration::days(1));
    repo.insert_token(&mine, "h-mine", None, &[])
        .await
        .expect("t");
    repo.insert_token(&made, "h-made", Some(mine.id), &[])
        .await
        .expect("t");
    let revoked = repo
        .set_password(
            TenantScope::All,
            ub.id,
            "new-hash",
            &audit(AuditAction::PasswordReset, None),
        )
        .await
        .expect("reset");
    assert_eq!(revoked, 3, "other, mine and what mine made");
    for t in [&other, &mine, &made] {
        let got = repo.get_token(TenantScope::All, t.id).await.expect("get");
        assert!(got.revoked_at.is_some(), "{}", t.id);
    }
}

/// Twenty attempts for one email race: each is written before it counts, so however they
/// interleave, no more than five can see a count within a limit of five.
pub async fn racing_sign_in_attempts_cannot_pass_the_limit(repo: Arc<dyn Repo>) {
    let since = cityx_core::now() - Duration::minutes(15);
    let attempts = (0..20).map(|_| {
        let repo = repo.clone();
        tokio::spawn(async move {
            let a = NewAudit::by(
                &Actor::system(),
                AuditAction::LoginFailed,
                "email",
                "race@x.cn",
                None,
            )
            .failed()
            .with_ip(Some("10.9.9.9".into()));
            repo.begin_login_attempt(&a, since)
                .await
                .expect("attempt")
                .1
        })
    });
    let mut seen = Vec::new();
    for a in attempts.collect::<Vec<_>>() {
        seen.push(a.await.expect("join"));
    }
    let passed = seen.iter().filter(|f| f.by_email <= 5).count();
    assert!(passed <= 5, "{passed} attempts saw room under a limit of 5");
    let mut counts: Vec<u64> = seen.iter().map(|f| f.by_ip).collect();
    counts.sort_unstable();
    assert_eq!(counts.last(), Some(&20), "the last to count sees them all");
}

pub async fn sessions_expire_and_end(repo: Arc<dyn Repo>) {
    let u = add_user(&repo, "s@x.cn", Role::HubEditor, None).await;
    let now = cityx_core::now();
    let mk = |id: &str, ttl: Duration| SessionRow {
        id_hash: id.into(),
        user_id: u.id,
        csrf_token: format!("csrf-{id}"),
        created_at: now,
        expires_at: now + ttl,
        ip: Some("127.0.0.1".into()),
        user_agent: Some("test".into()),
    };
    repo.insert_session(&mk("live", Duration::hours(1)))
        .await
        .expect("s");
    repo.insert_session(&mk("old", Duration::seconds(-5)))
        .await
        .expect("s");
    let (s, owner) = repo
        .find_session("live", now)
        .await
        .expect("f")
        .expect("live");
    assert_eq!((s.csrf_token.as_str(), owner.id), ("csrf-live", u.id));
    assert!(repo.find_session("old", now).await.expect("f").is_none());
    assert_eq!(repo.delete_expired_sessions(now).await.expect("gc"), 1);
    repo.delete_session("live", Some(&audit(AuditAction::Logout, None)))
        .await
        .expect("del");
    assert!(repo.find_session("live", now).await.expect("f").is_none());
}

pub async fn audit_listing_and_login_failures(repo: Arc<dyn Repo>) {
    let a = add_station(&repo, "aa").await; // one station-scoped entry
    let now = cityx_core::now();
    for _ in 0..3 {
        let failed = NewAudit::by(
            &Actor::system(),
            AuditAction::LoginFailed,
            "email",
            "who@x.cn",
            None,
        )
        .failed()
        .with_ip(Some("10.0.0.1".into()))
        .detail("reason", "bad_password");
        repo.insert_audit(&failed).await.expect("audit");
    }
    let elsewhere = NewAudit::by(
        &Actor::system(),
        AuditAction::LoginFailed,
        "email",
        "other@x.cn",
        None,
    )
    .failed()
    .with_ip(Some("10.0.0.1".into()));
    repo.insert_audit(&elsewhere).await.expect("audit");

    let f = repo
        .login_failures(
            Some("who@x.cn"),
            Some("10.0.0.1"),
            now - Duration::minutes(1),
        )
        .await
        .expect("failures");
    assert_eq!((f.by_email, f.by_ip), (3, 4));
    assert!(f.oldest.is_some());
    let none = repo
        .login_failures(Some("who@x.cn"), None, now + Duration::minutes(1))
        .await
        .expect("f");
    assert_eq!((none.by_email, none.by_ip, none.oldest), (0, 0, None));

    let all = AuditFilter {
        scope: TenantScope::All,
        station: None,
        action: None,
    };
    let page1 = repo
        .list_audit(&all, &PageRequest::first(3))
        .await
        .expect("list");
    assert_eq!(page1.items.len(), 3);
    assert!(
        page1.items.windows(2).all(|w| w[0].id > w[1].id),
        "newest first"
    );
    assert_eq!(page1.items[0].detail, serde_json::json!({}));
    assert_eq!(page1.items[1].detail["reason"], "bad_password");
    let page2 = repo
        .list_audit(
            &all,
            &PageRequest {
                limit: 3,
                after: page1.next,
            },
        )
        .await
        .expect("list");
    assert_eq!(page2.items.len(), 2);
    assert!(page2.next.is_none());

    let scoped = AuditFilter {
        scope: TenantScope::Station(a.id),
        station: None,
        action: None,
    };
    let mine = repo
        .list_audit(&scoped, &PageRequest::default())
        .await
        .expect("list");
    assert_eq!(mine.items.len(), 1);
    assert_eq!(mine.items[0].action, "station_created");
    let by_action = AuditFilter {
        scope: TenantScope::All,
        station: None,
        action: Some("login_failed".into()),
    };
    assert_eq!(
        repo.list_audit(&by_action, &PageRequest::default())
            .await
            .expect("l")
            .items
            .len(),
        4
    );
}

/// Creates an upload (and its asset) with nothing saved yet, as the upload's station.
async fn create_upload(
    repo: &Arc<dyn Repo>,
    a: &cityx_core::Asset,
    u: &cityx_core::Upload,
) -> cityx_db::Result<()> {
    let created = audit(AuditAction::UploadCreated, Some(u.station_id));
    repo.create_upload(
        a,
        u,
        &UploadProgress::default(),
        &StationLimits::default(),
        &created,
    )
    .await
}

/// Records every byte of a new upload, as one writer holding the lease.
async fn write_all(repo: &dyn Repo, id: cityx_core::UploadId, length: u64) {
    let now = cityx_core::now();
    let lease = repo
        .lease_upload(id, "writer", now, now + Duration::seconds(30))
        .await
        .expect("lease");
    assert!(lease.is_some(), "the lease is free");
    assert!(
        repo.advance_upload(
            id,
            "writer",
            0,
            length,
            now + Duration::hours(1),
            &UploadProgress::default()
        )
        .await
        .expect("bytes")
    );
    repo.release_upload_lease(id, "writer")
        .await
        .expect("release");
}

fn asset_and_upload(
    station: &Station,
    uploader: &User,
    length: u64,
) -> (cityx_core::Asset, cityx_core::Upload) {
    let now = cityx_core::now();
    let meta = cityx_core::AssetMeta {
        filename: "暴雨.mp4".into(),
        title: "杭州暴雨".into(),
        keywords: vec!["暴雨".into(), "防汛".into()],
        embargo_until: Some(now + Duration::hours(2)),
        ..Default::default()
    };
    let asset = cityx_core::Asset::uploading(station.id, uploader.id, meta, length, now);
    let upload = cityx_core::Upload {
        id: cityx_core::UploadId::new(),
        asset_id: asset.id,
        station_id: station.id,
        user_id: uploader.id,
        length,
        offset: 0,
        metadata: "filename 5pq06ZuoLm1wNA==".into(),
        state: cityx_core::UploadState::Active,
        expires_at: now + Duration::hours(24),
        created_at: now,
    };
    (asset, upload)
}

fn probe_job(asset: &cityx_core::Asset) -> cityx_db::NewJob {
    cityx_db::NewJob::about(
        "probe",
        cityx_core::subject::Subject::asset(asset.id),
        Some(asset.station_id),
        5,
    )
}

pub async fn stations_hold_a_bounded_number_of_unfinished_uploads(repo: Arc<dyn Repo>) {
    let st = add_station(&repo, "un").await;
    let ed = add_user(&repo, "ed@un.cn", Role::Editor, Some(st.id)).await;
    let created = audit(AuditAction::UploadCreated, Some(st.id));
    let two = StationLimits {
        default_quota: None,
        max_unfinished: 2,
    };
    for _ in 0..2 {
        let (a, u) = asset_and_upload(&st, &ed, 10);
        repo.create_upload(&a, &u, &UploadProgress::default(), &two, &created)
            .await
            .expect("room");
    }
    assert_eq!(repo.active_upload_count(st.id).await.expect("count"), 2);
    let (a, u) = asset_and_upload(&st, &ed, 10);
    let err = repo
        .create_upload(&a, &u, &UploadProgress::default(), &two, &created)
        .await
        .expect_err("two unfinished uploads are the limit");
    assert!(
        matches!(err, cityx_db::Error::TooManyUploads { limit: 2 }),
        "{err:?}"
    );
    assert!(
        repo.get_asset(TenantScope::All, a.id)
            .await
            .expect_err("nothing created")
            .is_not_found()
    );
    // Imports and items a job makes count alike.
    let (imported, _) = asset_and_upload(&st, &ed, 10);
    let err = repo
        .create_import(&imported, &probe_job(&imported), &two, &created)
        .await
        .expect_err("an import is one more unfinished item");
    assert!(
        matches!(err, cityx_db::Error::TooManyUploads { limit: 2 }),
        "{err:?}"
    );
    // 0 is no limit.
    repo.create_upload(
        &a,
        &u,
        &UploadProgress::default(),
        &StationLimits::default(),
        &created,
    )
    .await
    .expect("no limit");
    assert_eq!(repo.active_upload_count(st.id).await.expect("count"), 3);

    // A station without a quota of its own has the default; its own one wins.
    let other = add_station(&repo, "uo").await;
    let ed = add_user(&repo, "ed@uo.cn", Role::Editor, Some(other.id)).await;
    let default_15 = StationLimits {
        default_quota: Some(15),
        max_unfinished: 0,
    };
    let (a, u) = asset_and_upload(&other, &ed, 10);
    repo.create_upload(&a, &u, &UploadProgress::default(), &default_15, &created)
        .await
        .expect("within the default");
    let (a, u) = asset_and_upload(&other, &ed, 10);
    let err = repo
        .create_upload(&a, &u, &UploadProgress::default(), &default_15, &created)
        .await
        .expect_err("over the default");
    assert!(
        matches!(err, cityx_db::Error::QuotaExceeded { quota: 15, .. }),
        "{err:?}"
    );
    repo.set_quota(other.id, Some(100), &created)
        .await
        .expect("own quota");
    repo.create_upload(&a, &u, &UploadProgress::default(), &default_15, &created)
        .await
        .expect("within its own quota");
}

pub async fn uploads_reserve_quota_and_finish_with_a_job(repo: Arc<dyn Repo>) {
    let st = add_station(&repo, "up").await;
    let other = add_station(&repo, "uq").await;
    let ed = add_user(&repo, "ed@up.cn", Role::Editor, Some(st.id)).await;
    repo.set_quota(
        st.id,
        Some(100),
        &audit(AuditAction::StationUpdated, Some(st.id)),
    )
    .await
    .expect("quota");

    let (a1, u1) = asset_and_upload(&st, &ed, 60);
    create_upload(&repo, &a1, &u1).await.expect("first");
    assert_eq!(repo.quota_used(st.id).await.expect("used"), 60);
    let (a2, u2) = asset_and_upload(&st, &ed, 50);
    let err = create_upload(&repo, &a2, &u2)
        .await
        .expect_err("over quota");
    assert!(
        matches!(
            err,
            cityx_db::Error::QuotaExceeded {
                quota: 100,
                used: 60,
                requested: 50
            }
        ),
        "{err:?}"
    );
    assert!(
        repo.get_asset(TenantScope::All, a2.id)
            .await
            .expect_err("nothing created")
            .is_not_found()
    );

    // Scoped reads.
    assert_eq!(
        repo.get_upload(TenantScope::Station(st.id), u1.id)
            .await
            .expect("own"),
        u1
    );
    assert!(
        repo.get_upload(TenantScope::Station(other.id), u1.id)
            .await
            .expect_err("other")
            .is_not_found()
    );
    let got = repo
        .get_asset(TenantScope::Station(st.id), a1.id)
        .await
        .expect("asset");
    assert_eq!(
        got, a1,
        "metadata (Chinese text, keywords, embargo) round-trips"
    );
    assert!(
        repo.get_asset(TenantScope::Station(other.id), a1.id)
            .await
            .expect_err("other")
            .is_not_found()
    );

    // One writer at a time on any node (a lease), and an offset moves only from where it is.
    let now = cityx_core::now();
    let later = now + Duration::hours(24);
    let soon = now + Duration::seconds(30);
    let saved = UploadProgress {
        hashes: Some("h".into()),
        spool: Some("s".into()),
    };
    let lease = |w: &'static str, at: time::OffsetDateTime, until: time::OffsetDateTime| {
        let repo = &repo;
        async move { repo.lease_upload(u1.id, w, at, until).await.expect("lease") }
    };
    assert_eq!(
        lease("w1", now, soon).await,
        Some((0, UploadProgress::default()))
    );
    assert_eq!(lease("w2", now, soon).await, None, "locked");
    let advance = |w: &'static str, from: u64, to: u64| {
        let (repo, saved) = (&repo, &saved);
        async move {
            repo.advance_upload(u1.id, w, from, to, later, saved)
                .await
                .expect("advance")
        }
    };
    assert!(!advance("w2", 0, 40).await, "not the writer");
    assert!(advance("w1", 0, 40).await);
    assert!(!advance("w1", 0, 20).await, "a stale offset");
    assert!(
        repo.renew_upload_lease(u1.id, "w1", soon)
            .await
            .expect("renew")
    );
    assert!(
        !repo
            .renew_upload_lease(u1.id, "w2", soon)
            .await
            .expect("renew")
    );
    repo.release_upload_lease(u1.id, "w2")
        .await
        .expect("not theirs");
    assert_eq!(lease("w3", now, soon).await, None, "still w1's");
    repo.release_upload_lease(u1.id, "w1")
        .await
        .expect("release");
    // A lease that runs out passes on (its node died), with the progress saved.
    assert_eq!(lease("w3", now, now).await, Some((40, saved.clone())));
    assert_eq!(
        lease("w4", now + Duration::milliseconds(1), soon).await,
        Some((40, saved.clone()))
    );
    assert!(!advance("w3", 40, 60).await, "w3's lease passed on");
    assert!(repo.unfinished_uploads().await.expect("list").is_empty());
    assert!(advance("w4", 40, 60).await);
    assert_eq!(repo.unfinished_uploads().await.expect("list").len(), 1);

    let done = cityx_db::CompletedUpload {
        sha256: "ab".repeat(32),
        md5: "cd".repeat(16),
        duplicate_of: None,
        completed_at: cityx_core::now(),
        rejected: None,
    };
    let job = probe_job(&a1);
    repo.complete_upload(
        u1.id,
        &done,
        &job,
        &audit(AuditAction::UploadCompleted, Some(st.id)),
    )
    .await
    .expect("complete");
    repo.complete_upload(
        u1.id,
        &done,
        &probe_job(&a1),
        &audit(AuditAction::UploadCompleted, Some(st.id)),
    )
    .await
    .expect("again");
    let asset = repo
        .get_asset(TenantScope::All, a1.id)
        .await
        .expect("asset");
    assert_eq!(asset.status, cityx_core::AssetStatus::Processing);
    assert_eq!(asset.sha256.as_deref(), Some(done.sha256.as_str()));
    let jobs = repo.jobs_of_asset(a1.id).await.expect("jobs");
    assert_eq!(jobs.len(), 1, "completing twice enqueues once");
    assert_eq!(
        (jobs[0].kind.as_str(), jobs[0].state.as_str()),
        ("probe", "queued")
    );
    assert_eq!(
        repo.quota_used(st.id).await.expect("used"),
        60,
        "the master now counts instead of the reservation"
    );
    assert!(repo.unfinished_uploads().await.expect("list").is_empty());

    assert_eq!(
        repo.find_by_sha256(&done.sha256, a2.id)
            .await
            .expect("find"),
        Some(a1.id)
    );
    assert_eq!(
        repo.find_by_sha256(&done.sha256, a1.id)
            .await
            .expect("find"),
        None
    );
}

pub async fn ended_uploads_release_their_reservation(repo: Arc<dyn Repo>) {
    let st = add_station(&repo, "ue").await;
    let ed = add_user(&repo, "ed@ue.cn", Role::Editor, Some(st.id)).await;
    repo.set_quota(
        st.id,
        Some(100),
        &audit(AuditAction::StationUpdated, Some(st.id)),
    )
    .await
    .expect("quota");
    let (a1, mut u1) = asset_and_upload(&st, &ed, 80);
    u1.expires_at = cityx_core::now() - Duration::seconds(1);
    create_upload(&repo, &a1, &u1).await.expect("create");
    let expired = repo
        .expired_uploads(cityx_core::now())
        .await
        .expect("expired");
    assert_eq!(
        expired.iter().map(|u| u.id).collect::<Vec<_>>(),
        vec![u1.id]
    );

    let other = add_station(&repo, "uf").await;
    let err = repo
        .end_upload(
            TenantScope::Station(other.id),
            u1.id,
            cityx_core::UploadState::Terminated,
            &audit(AuditAction::UploadTerminated, None),
        )
        .await
        .expect_err("other station");
    assert!(err.is_not_found());
    repo.end_upload(
        TenantScope::All,
        u1.id,
        cityx_core::UploadState::Expired,
        &audit(AuditAction::UploadTerminated, None),
    )
    .await
    .expect("expire");
    assert_eq!(repo.quota_used(st.id).await.expect("used"), 0);
    assert!(
        repo.get_asset(TenantScope::All, a1.id)
            .await
            .expect_err("removed")
            .is_not_found()
    );
    let gone = repo
        .get_upload(TenantScope::All, u1.id)
        .await
        .expect("the upload row stays");
    assert_eq!(gone.state, cityx_core::UploadState::Expired);
    assert!(
        repo.expired_uploads(cityx_core::now())
            .await
            .expect("expired")
            .is_empty()
    );
    let (a2, u2) = asset_and_upload(&st, &ed, 100);
    create_upload(&repo, &a2, &u2).await.expect("room again");
}

fn station_job(
    kind: &'static str,
    station: Option<StationId>,
    run_at: time::OffsetDateTime,
) -> cityx_db::NewJob {
    cityx_db::NewJob {
        id: cityx_core::JobId::new(),
        kind,
        subject: None,
        station_id: station,
        payload: serde_json::json!({ "n": 1 }),
        max_attempts: 3,
        run_at,
    }
}

pub async fn jobs_are_claimed_once_and_fenced(repo: Arc<dyn Repo>) {
    let st = add_station(&repo, "jq").await;
    let now = cityx_core::now();
    repo.enqueue_job(&station_job("probe", Some(st.id), now))
        .await
        .expect("enqueue");
    repo.enqueue_job(&station_job("other", Some(st.id), now))
        .await
        .expect("enqueue");
    let lease = now + Duration::seconds(30);

    let a = repo
        .claim_job(&["probe"], "worker-a", lease)
        .await
        .expect("claim")
        .expect("a job");
    assert_eq!((a.kind.as_str(), a.attempts, a.fence), ("probe", 1, 1));
    // The payload and the (absent) subject come back as enqueued.
    assert_eq!(
        (&a.subject, &a.payload),
        (&None, &serde_json::json!({ "n": 1 }))
    );
    let summary = repo.get_job(a.id).await.expect("get").expect("the job");
    assert_eq!(
        (summary.kind.as_str(), summary.state.as_str()),
        ("probe", "running")
    );
    assert!(
        repo.get_job(cityx_core::JobId::new())
            .await
            .expect("get")
            .is_none()
    );
    assert!(
        repo.claim_job(&["probe"], "worker-b", lease)
            .await
            .expect("claim")
            .is_none(),
        "held by a"
    );
    assert!(repo.heartbeat_job(&a, lease, 40).await.expect("beat"));
    assert_eq!(
        repo.jobs_of_asset(cityx_core::AssetId::new())
            .await
            .expect("none")
            .len(),
        0
    );

    // a's lease runs out: b takes over with a new fence, and a can no longer write.
    assert!(
        repo.heartbeat_job(&a, now - Duration::seconds(1), 40)
            .await
            .expect("expire")
    );
    let b = repo
        .claim_job(&["probe"], "worker-b", lease)
        .await
        .expect("claim")
        .expect("reclaimed");
    assert_eq!((b.id, b.attempts, b.fence), (a.id, 2, 2));
    assert!(
        !repo.heartbeat_job(&a, lease, 50).await.expect("beat"),
        "a stale worker is refused"
    );
    assert!(
        !repo
            .finish_job(&a, &cityx_db::JobOutcome::Succeeded)
            .await
            .expect("finish"),
        "and cannot finish"
    );

    // A retry waits until its time.
    let later = now + Duration::hours(1);
    assert!(
        repo.finish_job(
            &b,
            &cityx_db::JobOutcome::Retry {
                error: "busy".into(),
                run_at: later
            }
        )
        .await
        .expect("retry")
    );
    assert!(
        repo.claim_job(&["probe"], "worker-c", lease)
            .await
            .expect("claim")
            .is_none(),
        "not due yet"
    );

    // Dead jobs stay dead until requeued.
    let o = repo
        .claim_job(&["other"], "worker-c", lease)
        .await
        .expect("claim")
        .expect("other");
    assert!(
        repo.finish_job(
            &o,
            &cityx_db::JobOutcome::Dead {
                error: "unreadable".into()
            }
        )
        .await
        .expect("dead")
    );
    assert!(
        repo.claim_job(&["other"], "worker-c", lease)
            .await
            .expect("claim")
            .is_none()
    );
    repo.requeue_job(o.id).await.expect("requeue");
    let again = repo
        .claim_job(&["other"], "worker-c", lease)
        .await
        .expect("claim")
        .expect("requeued");
    assert_eq!((again.id, again.attempts), (o.id, 1), "fresh attempts");
    assert!(
        repo.finish_job(&again, &cityx_db::JobOutcome::Succeeded)
            .await
            .expect("done")
    );
    assert!(
        !repo
            .finish_job(&again, &cityx_db::JobOutcome::Succeeded)
            .await
            .expect("twice"),
        "finishing twice changes nothing"
    );
    assert!(
        repo.requeue_job(o.id)
            .await
            .expect_err("not dead")
            .is_not_found()
    );
    assert!(
        repo.claim_job(&[], "w", lease)
            .await
            .expect("no kinds")
            .is_none()
    );
}

/// The bus's outbox: each job attempt gets one message, kinds wait for room in their window
/// in the claim's fair order, lost messages are sent again, and a job named by a message is
/// claimed only when it may be.
pub async fn the_outbox_sends_each_attempt_once_within_a_window(repo: Arc<dyn Repo>) {
    use cityx_db::{JobClaim, JobMessage};
    let (st1, st2) = (
        add_station(&repo, "ob1").await,
        add_station(&repo, "ob2").await,
    );
    let now = cityx_core::now();
    let lease = now + Duration::seconds(60);
    let long_ago = now - Duration::minutes(10);
    let enqueue = |kind, st: &Station, at| {
        let job = station_job(kind, Some(st.id), at);
        let repo = repo.clone();
        async move {
            repo.enqueue_job(&job).await.expect("enqueue");
            job.id
        }
    };
    let a1 = enqueue("probe", &st1, now - Duration::seconds(4)).await;
    let a2 = enqueue("probe", &st1, now - Duration::seconds(3)).await;
    let a3 = enqueue("probe", &st1, now - Duration::seconds(2)).await;
    let b1 = enqueue("probe", &st2, now - Duration::seconds(1)).await;
    let o1 = enqueue("other", &st1, now).await;
    let later = enqueue("probe", &st1, now + Duration::hours(1)).await;
    let claim = |id| {
        let repo = repo.clone();
        async move { repo.claim_job_by_id(id, "w", lease).await.expect("claim") }
    };
    let JobClaim::Claimed(held) = claim(a1).await else {
        panic!("a1 is due")
    };
    let messages = |window, before| {
        let repo = repo.clone();
        async move { repo.jobs_to_send(window, before).await.expect("outbox") }
    };
    // Which job, which attempt.
    let to_send = |window, before| {
        let messages = messages(window, before);
        async move {
            let list = messages.await;
            list.into_iter()
                .map(|m| (m.id, m.kind, m.attempt))
                .collect::<Vec<_>>()
        }
    };
    let msg = |id, kind: &str, attempt| (id, kind.to_owned(), attempt);

    // Station 1 has a job running, so station 2's comes first; two probes fit the window.
    let first = messages(2, long_ago).await;
    assert_eq!(
        first.iter().map(|m| (m.id, m.due)).collect::<Vec<_>>(),
        vec![
            (b1, now - Duration::seconds(1)),
            (a2, now - Duration::seconds(3)),
            (o1, now)
        ]
    );
    assert!(first.iter().all(|m| m.attempt == 1));
    for m in &first {
        repo.mark_job_sent(m, now).await.expect("sent");
    }
    assert_eq!(
        to_send(2, long_ago).await,
        vec![],
        "sent, and the window is full"
    );
    assert!(matches!(claim(b1).await, JobClaim::Claimed(_)));
    assert_eq!(
        to_send(2, long_ago).await,
        vec![msg(a3, "probe", 1)],
        "a claim makes room"
    );
    // A message whose time has passed is sent again, window or not.
    assert_eq!(
        to_send(2, now + Duration::seconds(1)).await,
        vec![
            msg(a2, "probe", 1),
            msg(a3, "probe", 1),
            msg(o1, "other", 1)
        ]
    );

    // What a message's job says when it cannot be claimed.
    assert!(
        matches!(claim(later).await, JobClaim::NotDue { at } if at > now + Duration::minutes(59))
    );
    assert!(matches!(claim(a1).await, JobClaim::Running { until } if until == lease));
    assert!(
        repo.finish_job(&held, &cityx_db::JobOutcome::Succeeded)
            .await
            .expect("done")
    );
    assert_eq!(claim(a1).await, JobClaim::Finished);
    assert_eq!(claim(cityx_core::JobId::new()).await, JobClaim::Finished);

    // A retry is a new attempt, so a new message.
    let JobClaim::Claimed(o) = claim(o1).await else {
        panic!("o1 is due")
    };
    let retry = cityx_db::JobOutcome::Retry {
        error: "busy".into(),
        run_at: now - Duration::seconds(1),
    };
    assert!(repo.finish_job(&o, &retry).await.expect("retry"));
    assert_eq!(
        to_send(2, long_ago).await,
        vec![msg(a3, "probe", 1), msg(o1, "other", 2)]
    );
    // A mark for an attempt the job is not waiting for changes nothing.
    let stale = JobMessage {
        id: o1,
        kind: "other".into(),
        attempt: 7,
        due: now,
    };
    repo.mark_job_sent(&stale, now).await.expect("stale mark");
    assert!(to_send(2, long_ago).await.contains(&msg(o1, "other", 2)));

    // A worker that died: its lease ended long enough ago, so its job is sent again.
    let JobClaim::Claimed(_) = repo
        .claim_job_by_id(a2, "dead-worker", now - Duration::seconds(1))
        .await
        .expect("claim")
    else {
        panic!("a2 is due")
    };
    assert!(!to_send(2, long_ago).await.iter().any(|m| m.0 == a2));
    assert!(
        to_send(2, now + Duration::seconds(1))
            .await
            .contains(&msg(a2, "probe", 2))
    );

    // The event relay's mark only moves forward.
    assert_eq!(repo.outbox_cursor("events").await.expect("mark"), 0);
    for (set, expect) in [(5, 5), (3, 5), (9, 9)] {
        repo.set_outbox_cursor("events", set).await.expect("move");
        assert_eq!(repo.outbox_cursor("events").await.expect("mark"), expect);
    }
    assert_eq!(repo.outbox_cursor("other").await.expect("mark"), 0);
}

/// Many workers claiming at once (as on several nodes) take every job exactly once.
pub async fn concurrent_claims_take_each_job_once(repo: Arc<dyn Repo>) {
    let st = add_station(&repo, "cc").await;
    let now = cityx_core::now();
    let mut queued = std::collections::BTreeSet::new();
    for _ in 0..24 {
        let job = station_job("probe", Some(st.id), now);
        repo.enqueue_job(&job).await.expect("enqueue");
        queued.insert(job.id);
    }
    let lease = now + Duration::seconds(60);
    let workers: Vec<_> = (0..6)
        .map(|w| {
            let repo = repo.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                while let Some(job) = repo
                    .claim_job(&["probe"], &format!("worker-{w}"), lease)
                    .await
                    .expect("claim")
                {
                    assert_eq!(job.fence, 1, "claimed before");
                    mine.push(job.id);
                }
                mine
            })
        })
        .collect();
    let mut claimed = Vec::new();
    for w in workers {
        claimed.extend(w.await.expect("worker"));
    }
    let distinct: std::collections::BTreeSet<_> = claimed.iter().copied().collect();
    assert_eq!(claimed.len(), 24, "no job claimed twice");
    assert_eq!(distinct, queued, "every job claimed");
}

/// A job enqueued through any connection wakes the workers that listen (PostgreSQL); on
/// SQLite the relay has nothing to do and returns.
pub async fn runnable_jobs_wake_listening_workers(repo: Arc<dyn Repo>) {
    let wake = Arc::new(tokio::sync::Notify::new());
    let relay = tokio::spawn({
        let (repo, wake) = (repo.clone(), wake.clone());
        async move { repo.relay_job_wakeups(wake).await }
    });
    if repo.backend() == "sqlite" {
        relay.await.expect("returns at once on SQLite");
        return;
    }
    let st = add_station(&repo, "wk").await;
    // The listener connects in the background: enqueue until one wake-up arrives.
    let mut woken = false;
    for _ in 0..20 {
        repo.enqueue_job(&station_job("probe", Some(st.id), cityx_core::now()))
            .await
            .expect("enqueue");
        if tokio::time::timeout(std::time::Duration::from_millis(500), wake.notified())
            .await
            .is_ok()
        {
            woken = true;
            break;
        }
    }
    relay.abort();
    assert!(woken, "a NOTIFY reached the listener");
}

pub async fn busy_stations_do_not_starve_others(repo: Arc<dyn Repo>) {
    let busy = add_station(&repo, "busy").await;
    let quiet = add_station(&repo, "quiet").await;
    let now = cityx_core::now();
    // The busy station queued first, many jobs; the quiet one a single job later.
    for i in 0..4 {
        repo.enqueue_job(&station_job(
            "transcode",
            Some(busy.id),
            now - Duration::seconds(10 - i),
        ))
        .await
        .expect("enqueue");
    }
    let quiet_job = station_job("transcode", Some(quiet.id), now);
    repo.enqueue_job(&quiet_job).await.expect("enqueue");
    let lease = now + Duration::seconds(60);
    let first = repo
        .claim_job(&["transcode"], "w1", lease)
        .await
        .expect("claim")
        .expect("job");
    assert_eq!(
        first.station_id,
        Some(busy.id),
        "oldest first while nobody runs"
    );
    let second = repo
        .claim_job(&["transcode"], "w2", lease)
        .await
        .expect("claim")
        .expect("job");
    assert_eq!(
        second.id, quiet_job.id,
        "then the station with nothing running, though its job is newer"
    );
}

/// An uploaded asset whose probe job `worker` holds.
async fn processing_asset(
    repo: &Arc<dyn Repo>,
    code: &str,
) -> (cityx_core::Asset, cityx_db::ClaimedJob) {
    let st = add_station(repo, code).await;
    let ed = add_user(repo, &format!("ed@{code}.cn"), Role::Editor, Some(st.id)).await;
    let (a, u) = asset_and_upload(&st, &ed, 10);
    create_upload(repo, &a, &u).await.expect("create");
    write_all(&**repo, u.id, 10).await;
    let done = cityx_db::CompletedUpload {
        sha256: "ef".repeat(32),
        md5: "01".repeat(16),
        duplicate_of: None,
        completed_at: cityx_core::now(),
        rejected: None,
    };
    repo.complete_upload(
        u.id,
        &done,
        &probe_job(&a),
        &audit(AuditAction::UploadCompleted, Some(st.id)),
    )
    .await
    .expect("complete");
    let job = repo
        .claim_job(
            &["probe"],
            "worker",
            cityx_core::now() + Duration::seconds(30),
        )
        .await
        .expect("claim")
        .expect("the probe job");
    (a, job)
}

pub async fn pipeline_writes_are_fenced_and_enqueue_once(repo: Arc<dyn Repo>) {
    let (a, probe) = processing_asset(&repo, "pl").await;
    assert_eq!(probe.asset_id(), Some(a.id), "an item's job names the item");
    let transcode = cityx_db::NewJob {
        kind: "transcode",
        ..probe_job(&a)
    };
    assert!(
        repo.record_technical(
            &probe,
            r#"{"duration_s": 2.0}"#,
            std::slice::from_ref(&transcode)
        )
        .await
        .expect("record")
    );
    // A retried probe records again but does not enqueue a second transcode.
    let again = cityx_db::NewJob {
        id: cityx_core::JobId::new(),
        ..transcode.clone()
    };
    assert!(
        repo.record_technical(&probe, r#"{"duration_s": 2.0}"#, &[again])
            .await
            .expect("record")
    );
    let kinds: Vec<String> = repo
        .jobs_of_asset(a.id)
        .await
        .expect("jobs")
        .into_iter()
        .map(|j| j.kind)
        .collect();
    assert_eq!(kinds, ["probe", "transcode"]);

    // The fast path sets the first playlist; it never replaces one.
    assert!(
        repo.set_playback(&probe, "hls/fast/index.m3u8", true)
            .await
            .expect("fast")
    );
    assert!(
        repo.set_playback(&probe, "hls/other.m3u8", true)
            .await
            .expect("not first")
    );
    let got = repo.get_asset(TenantScope::All, a.id).await.expect("asset");
    assert_eq!(got.playback.as_deref(), Some("hls/fast/index.m3u8"));
    assert_eq!(got.technical, Some(serde_json::json!({"duration_s": 2.0})));

    // A worker whose lease passed to another writes nothing.
    assert!(
        repo.heartbeat_job(&probe, cityx_core::now() - Duration::seconds(1), 10)
            .await
            .expect("expire")
    );
    let thief = repo
        .claim_job(
            &["probe"],
            "other",
            cityx_core::now() + Duration::seconds(30),
        )
        .await
        .expect("claim")
        .expect("taken over");
    let done = cityx_db::Processed {
        playback: "hls/master.m3u8".into(),
        derived_json: r#"{"renditions": []}"#.into(),
        qc_json: r#"{"verdict": "fail"}"#.into(),
        qc_verdict: "fail".into(),
        rejection: Some("响度不合格".into()),
    };
    assert!(
        !repo
            .set_playback(&probe, "hls/stale.m3u8", false)
            .await
            .expect("stale")
    );
    assert!(!repo.finish_processing(&probe, &done).await.expect("stale"));
    assert!(
        !repo
            .record_technical(&probe, "{}", &[])
            .await
            .expect("stale")
    );
    let got = repo.get_asset(TenantScope::All, a.id).await.expect("asset");
    assert_eq!(
        (got.status, got.playback.as_deref()),
        (
            cityx_core::AssetStatus::Processing,
            Some("hls/fast/index.m3u8")
        )
    );

    // The holder finishes: a failed check rejects the item with the reason.
    assert!(repo.finish_processing(&thief, &done).await.expect("finish"));
    let got = repo.get_asset(TenantScope::All, a.id).await.expect("asset");
    assert_eq!(got.status, cityx_core::AssetStatus::Rejected);
    assert_eq!(got.failure.as_deref(), Some("响度不合格"));
    assert_eq!(got.playback.as_deref(), Some("hls/master.m3u8"));
    assert_eq!(got.qc, Some(serde_json::json!({"verdict": "fail"})));
    assert_eq!(got.derived, Some(serde_json::json!({"renditions": []})));

    // A dead job, re-run by an operator, reopens its failed item.
    let probe = repo
        .claim_job(
            &["transcode"],
            "w",
            cityx_core::now() + Duration::seconds(30),
        )
        .await
        .expect("claim")
        .expect("the transcode");
    repo.fail_asset(a.id, "disk on fire").await.expect("fail");
    assert!(
        repo.finish_job(
            &probe,
            &cityx_db::JobOutcome::Dead {
                error: "disk on fire".into()
            }
        )
        .await
        .expect("dead")
    );
    let dead = repo.dead_jobs(10).await.expect("dead jobs");
    assert_eq!(
        dead.iter()
            .map(|j| (j.id, j.last_error.as_deref()))
            .collect::<Vec<_>>(),
        [(probe.id, Some("disk on fire"))]
    );
    repo.requeue_job(probe.id).await.expect("re-run");
    let got = repo.get_asset(TenantScope::All, a.id).await.expect("asset");
    assert_eq!(
        (got.status, got.failure),
        (cityx_core::AssetStatus::Processing, None)
    );
    assert!(repo.dead_jobs(10).await.expect("none").is_empty());
}

pub async fn deleted_assets_wait_out_their_grace_then_release_quota(repo: Arc<dyn Repo>) {
    let (a, probe) = processing_asset(&repo, "del").await;
    let own = TenantScope::Station(a.station_id);
    let other = add_station(&repo, "deo").await;
    let del = |what| audit(AuditAction::AssetDeleted, Some(a.station_id)).detail("t", what);
    let past = cityx_core::now() - Duration::seconds(1);
    assert!(
        repo.delete_asset(TenantScope::Station(other.id), a.id, past, &del("x"))
            .await
            .expect_err("another station's")
            .is_not_found()
    );
    let before = audit_count(&repo).await;
    let got = repo
        .delete_asset(own, a.id, past, &del("first"))
        .await
        .expect("delete");
    assert!(got.deleted_at.is_some() && got.purge_after.is_some());
    let again = repo
        .delete_asset(
            own,
            a.id,
            cityx_core::now() + Duration::days(9),
            &del("again"),
        )
        .await
        .expect("again");
    assert_eq!(
        again.purge_after, got.purge_after,
        "deleting twice keeps the first"
    );
    assert_eq!(audit_count(&repo).await, before + 1);
    assert_eq!(repo.quota_used(a.station_id).await.expect("used"), 10);
    assert_eq!(
        repo.find_by_sha256(&"ef".repeat(32), cityx_core::AssetId::new())
            .await
            .expect("find"),
        None,
        "a deleted item is no duplicate"
    );

    // Restorable until purged.
    let back = repo
        .restore_asset(own, a.id, &audit(AuditAction::AssetRestored, None))
        .await
        .expect("restore");
    assert_eq!((back.deleted_at, back.purge_after), (None, None));
    assert!(
        repo.assets_to_purge(cityx_core::now(), 10)
            .await
            .expect("list")
            .is_empty()
    );
    repo.delete_asset(own, a.id, past, &del("third"))
        .await
        .expect("delete");
    assert_eq!(
        repo.assets_to_purge(cityx_core::now(), 10)
            .await
            .expect("list"),
        [(a.id, a.station_id)]
    );

    // A job holding its lease holds the purge off; once the lease has passed, the job ends.
    assert!(
        !repo
            .prepare_purge(a.id, cityx_core::now())
            .await
            .expect("prepare")
    );
    assert_eq!(
        repo.jobs_of_asset(a.id).await.expect("jobs")[0].state,
        "running"
    );
    let later = cityx_core::now() + Duration::minutes(5);
    assert!(repo.prepare_purge(a.id, later).await.expect("prepare"));
    let jobs = repo.jobs_of_asset(a.id).await.expect("jobs");
    assert!(
        jobs.iter()
            .all(|j| j.state == "dead" && j.last_error.as_deref() == Some("the item was deleted")),
        "{jobs:?}"
    );
    assert!(
        matches!(
            repo.requeue_job(probe.id).await,
            Err(cityx_db::Error::WrongState { .. })
        ),
        "a deleted item's jobs are not re-run"
    );
    repo.finish_purge(a.id, &audit(AuditAction::AssetPurged, Some(a.station_id)))
        .await
        .expect("purge");
    assert!(
        repo.get_asset(TenantScope::All, a.id)
            .await
            .expect_err("gone")
            .is_not_found()
    );
    assert!(
        repo.restore_asset(own, a.id, &audit(AuditAction::AssetRestored, None))
            .await
            .expect_err("purged")
            .is_not_found()
    );
    assert_eq!(
        repo.quota_used(a.station_id).await.expect("used"),
        0,
        "quota released"
    );
    assert!(
        repo.assets_to_purge(later, 10)
            .await
            .expect("list")
            .is_empty()
    );

    // An upload still arriving cannot be deleted (its upload is terminated instead).
    let ed = add_user(&repo, "ed2@del.cn", Role::Editor, Some(a.station_id)).await;
    let st = repo
        .get_station(TenantScope::All, a.station_id)
        .await
        .expect("station");
    let (b, u) = asset_and_upload(&st, &ed, 5);
    create_upload(&repo, &b, &u).await.expect("create");
    assert!(matches!(
        repo.delete_asset(own, b.id, past, &del("uploading")).await,
        Err(cityx_db::Error::WrongState { .. })
    ));

    // A rejected upload (a duplicate under the reject policy) gets no job and is deleted.
    write_all(&*repo, u.id, 5).await;
    let done = cityx_db::CompletedUpload {
        sha256: "ef".repeat(32),
        md5: "01".repeat(16),
        duplicate_of: Some(a.id),
        completed_at: cityx_core::now(),
        rejected: Some(cityx_db::Rejection {
            failure: format!("duplicate of {}", a.id),
            purge_after: later,
        }),
    };
    repo.complete_upload(
        u.id,
        &done,
        &probe_job(&b),
        &audit(AuditAction::UploadCompleted, None),
    )
    .await
    .expect("complete");
    let got = repo.get_asset(own, b.id).await.expect("rejected");
    assert_eq!(got.status, cityx_core::AssetStatus::Rejected);
    assert_eq!(got.failure, Some(format!("duplicate of {}", a.id)));
    assert_eq!(got.purge_after, Some(later));
    assert!(got.deleted_at.is_some());
    assert!(repo.jobs_of_asset(b.id).await.expect("jobs").is_empty());
}

fn correction_of(a: &cityx_core::Asset, meta: &cityx_core::AssetMeta) -> cityx_core::Correction {
    cityx_core::Correction {
        id: cityx_core::CorrectionId::new(),
        asset_id: a.id,
        user_id: None,
        note: "标题有误".into(),
        changes: cityx_core::notice::changes(&a.meta, meta),
        at: cityx_core::now(),
    }
}

/// A correction is kept with what it changed, marks the item, tells its adopters once each,
/// and counts in no statistics; the item's withdrawn copy in the top list is left out.
pub async fn corrections_are_kept_with_what_they_changed(repo: Arc<dyn Repo>) {
    let (a, job) = processing_asset(&repo, "cor").await;
    let done = cityx_db::Processed {
        playback: "hls/index.m3u8".into(),
        derived_json: "{}".into(),
        qc_json: "{}".into(),
        qc_verdict: "pass".into(),
        rejection: None,
    };
    assert!(repo.finish_processing(&job, &done).await.expect("finish"));
    let b = add_station(&repo, "corb").await;
    let eb = add_user(&repo, "ed@corb.cn", Role::Editor, Some(b.id)).await;
    for rendition in ["proxy", "master", "proxy"] {
        let (mut ad, au) = adoption_of(&a, &b, &eb);
        ad.rendition = rendition.into();
        repo.insert_adoption(&ad, &au).await.expect("adopt");
    }
    let ledger = repo
        .list_adoptions(
            TenantScope::All,
            &cityx_db::AdoptionFilter {
                asset: Some(a.id),
                ..Default::default()
            },
            &PageRequest::first(10),
        )
        .await
        .expect("ledger");
    assert_eq!(
        ledger.items.len(),
        2,
        "the same file taken again is one row"
    );
    let own = TenantScope::Station(a.station_id);
    assert!(repo.list_corrections(a.id).await.expect("none").is_empty());
    let mut meta = a.meta.clone();
    meta.title = "台风“海葵”登陆".into();
    meta.keywords = vec!["台风".into(), "海葵".into()];
    let fix = correction_of(&a, &meta);
    let told = repo
        .correct_asset(own, &meta, &fix, &audit(AuditAction::AssetCorrected, None))
        .await
        .expect("corrected");
    assert_eq!(told.len(), 1, "B took two files but is one adopter");
    let history = repo.list_corrections(a.id).await.expect("history");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].note, "标题有误");
    let fields: Vec<_> = history[0]
        .changes
        .iter()
        .map(|c| c.field.as_str())
        .collect();
    assert_eq!(fields, ["title", "keywords"]);
    assert_eq!(history[0].changes[0].before, a.meta.title);
    let read = repo.get_asset(own, a.id).await.expect("read");
    assert_eq!(read.meta.title, "台风“海葵”登陆");
    assert!(read.corrected_at.is_some());
    assert_eq!(read.adoption_count, 1);

    let now = cityx_core::now();
    let window = (now - Duration::hours(1), now + Duration::hours(1));
    let top = repo.top_items(window.0, window.1, 5).await.expect("top");
    let ours = top.iter().find(|t| t.asset_id == a.id).expect("listed");
    assert_eq!((ours.adoptions, ours.title.as_str()), (1, "台风“海葵”登陆"));
    repo.withdraw_asset(own, a.id, "撤回", &audit(AuditAction::AssetWithdrawn, None))
        .await
        .expect("withdrawn");
    let top = repo.top_items(window.0, window.1, 5).await.expect("top");
    assert!(
        top.iter().all(|t| t.asset_id != a.id),
        "a withdrawn item is not among the most adopted"
    );
}

fn adoption_of(
    a: &cityx_core::Asset,
    by: &Station,
    user: &User,
) -> (cityx_core::Adoption, NewAudit) {
    let adoption = cityx_core::Adoption {
        id: cityx_core::AdoptionId::new(),
        asset_id: a.id,
        asset_title: a.meta.title.clone(),
        contributor_id: a.station_id,
        contributor_name: String::new(),
        station_id: by.id,
        station_name: by.name.clone(),
        user_id: user.id,
        rendition: "proxy".into(),
        purpose: String::new(),
        at: cityx_core::now(),
        item_now: None,
    };
    (adoption, audit(AuditAction::AssetAdopted, Some(by.id)))
}

pub async fn events_commit_in_order_and_notices_reach_adopters(repo: Arc<dyn Repo>) {
    use cityx_core::{EventKind, NoticeKind};
    let (a, job) = processing_asset(&repo, "ev").await;
    let done = cityx_db::Processed {
        playback: "hls/index.m3u8".into(),
        derived_json: "{}".into(),
        qc_json: "{}".into(),
        qc_verdict: "pass".into(),
        rejection: None,
    };
    let head0 = repo.event_head().await.expect("head");
    assert!(repo.finish_processing(&job, &done).await.expect("finish"));
    let (b, c) = (
        add_station(&repo, "evb").await,
        add_station(&repo, "evc").await,
    );
    let eb = add_user(&repo, "ed@evb.cn", Role::Editor, Some(b.id)).await;
    let now = cityx_core::now();
    let seen_by = |s: &Station| {
        let repo = repo.clone();
        let scope = TenantScope::Station(s.id);
        async move {
            repo.feed(scope, head0, 100, cityx_core::now())
                .await
                .expect("feed")
                .into_iter()
                .map(|e| e.kind)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(seen_by(&c).await, [EventKind::ItemPublished]);

    // Adoptions from many tasks at once while a reader follows the feed: the reader sees
    // every number once, in order, with none skipped. (Each take names another file: the
    // same file taken again is not recorded again.)
    let writers: Vec<_> = (0..6)
        .map(|w| {
            let (repo, a, b, eb) = (repo.clone(), a.clone(), b.clone(), eb.clone());
            tokio::spawn(async move {
                for n in 0..5 {
                    let (mut ad, au) = adoption_of(&a, &b, &eb);
                    ad.rendition = format!("take-{w}-{n}");
                    repo.insert_adoption(&ad, &au).await.expect("adopt");
                }
            })
        })
        .collect();
    let total = head0 + 1 + 30;
    let (mut cursor, mut seqs) = (head0, Vec::new());
    while cursor < total {
        for e in repo
            .feed(TenantScope::All, cursor, 7, cityx_core::now())
            .await
            .expect("feed")
        {
            seqs.push(e.seq);
            cursor = e.seq;
        }
        tokio::task::yield_now().await;
    }
    for w in writers {
        w.await.expect("writer");
    }
    assert_eq!(seqs, ((head0 + 1)..=total).collect::<Vec<_>>());
    assert_eq!(repo.event_head().await.expect("head"), total);
    let of_b = seen_by(&b).await;
    assert_eq!(of_b.len(), 31);
    assert_eq!(of_b[0], EventKind::ItemPublished);
    assert_eq!(
        seen_by(&c).await,
        [EventKind::ItemPublished],
        "C sees no adoption it was not part of"
    );

    // The statistics counted the events, by Beijing day.
    let day = cityx_core::day::of(now);
    let stats = repo.station_stats((day - 1, day + 1)).await.expect("stats");
    let of = |id| stats.iter().find(|s| s.station_id == id).expect("listed");
    assert_eq!(
        (
            of(a.station_id).contributions,
            of(a.station_id).adoptions_received
        ),
        (1, 1),
        "an adoption is a station taking an item, counted once however often it downloads"
    );
    assert_eq!((of(b.id).adoptions_made, of(c.id).adoptions_made), (1, 0));
    let days = repo.daily_stats((day - 1, day + 1)).await.expect("daily");
    assert_eq!(days.len(), 1);
    assert_eq!((days[0].contributions, days[0].adoptions), (1, 1));
    let top = repo
        .top_items(now - Duration::hours(1), now + Duration::hours(1), 5)
        .await
        .expect("top");
    assert_eq!((top.len(), top[0].adoptions), (1, 1));
    let counted = repo.get_asset(TenantScope::All, a.id).await.expect("read");
    assert_eq!(counted.adoption_count, 1);

    // Another station cannot withdraw it; its own station can, once, and B is told once.
    let own = TenantScope::Station(a.station_id);
    let withdraw = audit(AuditAction::AssetWithdrawn, Some(a.station_id));
    let err = repo
        .withdraw_asset(TenantScope::Station(b.id), a.id, "x", &withdraw)
        .await
        .expect_err("refused");
    assert!(err.is_not_found(), "{err:?}");
    let notices = repo
        .withdraw_asset(own, a.id, "版权争议", &withdraw)
        .await
        .expect("withdraw");
    assert_eq!(notices.len(), 1);
    assert_eq!(
        (notices[0].station_id, notices[0].kind),
        (b.id, NoticeKind::Withdrawal)
    );
    let again = repo
        .withdraw_asset(own, a.id, "x", &withdraw)
        .await
        .expect_err("refused");
    assert!(
        matches!(again, cityx_db::Error::WrongState { .. }),
        "{again:?}"
    );
    let (late, au) = adoption_of(&a, &b, &eb);
    let refused = repo.insert_adoption(&late, &au).await.expect_err("refused");
    assert!(matches!(refused, cityx_db::Error::WrongState { .. }));
    let meta = a.meta.clone();
    let fix = repo
        .correct_asset(
            own,
            &meta,
            &correction_of(&a, &meta),
            &audit(AuditAction::AssetCorrected, None),
        )
        .await
        .expect_err("refused");
    assert!(matches!(fix, cityx_db::Error::WrongState { .. }));
    let tail = seen_by(&b).await;
    assert_eq!(
        tail[31..],
        [EventKind::ItemWithdrawn, EventKind::NoticeCreated]
    );
    assert_eq!(
        seen_by(&c).await,
        [EventKind::ItemPublished, EventKind::ItemWithdrawn],
        "C may see the item, so it learns of the withdrawal, but gets no notice"
    );

    // B acknowledges; C cannot; the contributor sees who has.
    let open = cityx_db::NoticeFilter {
        station: Some(b.id),
        open_only: true,
        ..Default::default()
    };
    let listed = repo
        .list_notices(TenantScope::Station(b.id), &open, &PageRequest::first(10))
        .await
        .expect("list");
    assert_eq!(listed.items.len(), 1);
    assert_eq!(repo.count_open_notices(b.id).await.expect("count"), 1);
    let ack = audit(AuditAction::NoticeAcknowledged, Some(b.id));
    let nid = notices[0].id;
    assert!(
        repo.acknowledge_notice(c.id, nid, eb.id, &ack)
            .await
            .expect_err("refused")
            .is_not_found()
    );
    let before = audit_count(&repo).await;
    let n = repo
        .acknowledge_notice(b.id, nid, eb.id, &ack)
        .await
        .expect("ack");
    assert_eq!(n.acknowledged_by, Some(eb.id));
    let twice = repo
        .acknowledge_notice(b.id, nid, eb.id, &ack)
        .await
        .expect("ack again");
    assert_eq!(twice.acknowledged_at, n.acknowledged_at);
    assert_eq!(audit_count(&repo).await, before + 1);
    assert_eq!(repo.count_open_notices(b.id).await.expect("count"), 0);
    let issued = repo
        .list_notices(
            own,
            &cityx_db::NoticeFilter {
                contributor: Some(a.station_id),
                ..Default::default()
            },
            &PageRequest::first(10),
        )
        .await
        .expect("issued");
    assert!(issued.items[0].acknowledged_at.is_some());
    assert!(
        repo.list_notices(TenantScope::Station(b.id), &open, &PageRequest::first(10))
            .await
            .expect("list")
            .items
            .is_empty()
    );
}

pub async fn webhooks_get_what_the_feed_shows_and_retry_through_the_queue(repo: Arc<dyn Repo>) {
    use cityx_core::webhook::{Attempt, MAX_PER_STATION, WEBHOOK_JOB, WebhookFields};
    use cityx_core::{DeliveryState, EventKind, WebhookId};
    let (a, job) = processing_asset(&repo, "wha").await;
    let (b, c) = (
        add_station(&repo, "whb").await,
        add_station(&repo, "whc").await,
    );
    let admin_a = add_user(
        &repo,
        "admin@wha.cn",
        Role::StationAdmin,
        Some(a.station_id),
    )
    .await;
    let admin_b = add_user(&repo, "admin@whb.cn", Role::StationAdmin, Some(b.id)).await;
    let admin_c = add_user(&repo, "admin@whc.cn", Role::StationAdmin, Some(c.id)).await;
    let hook = |station: StationId, by: UserId, kinds: Vec<EventKind>| {
        let repo = repo.clone();
        async move {
            let id = WebhookId::new();
            let fields = WebhookFields {
                url: format!("https://hooks.example.cn/{id}"),
                kinds,
            };
            repo.insert_webhook(
                id,
                station,
                &fields,
                "whsec_test",
                by,
                &audit(AuditAction::WebhookCreated, Some(station)),
            )
            .await
            .map(|()| id)
        }
    };
    let on_a = hook(a.station_id, admin_a.id, vec![EventKind::AdoptionCreated])
        .await
        .expect("a");
    let on_b = hook(b.id, admin_b.id, vec![]).await.expect("b");
    let on_c = hook(c.id, admin_c.id, vec![EventKind::NoticeCreated])
        .await
        .expect("c");
    for _ in 1..MAX_PER_STATION {
        hook(c.id, admin_c.id, vec![EventKind::NoticeCreated])
            .await
            .expect("up to the limit");
    }
    let over = hook(c.id, admin_c.id, vec![]).await.expect_err("over");
    assert!(
        matches!(over, cityx_db::Error::WrongState { .. }),
        "{over:?}"
    );
    assert_eq!(
        repo.list_webhooks(TenantScope::Station(b.id))
            .await
            .expect("list")
            .iter()
            .map(|w| w.id)
            .collect::<Vec<_>>(),
        [on_b]
    );
    assert!(
        repo.get_webhook(TenantScope::Station(b.id), on_c)
            .await
            .expect_err("another station's")
            .is_not_found()
    );

    // Publishing: B (every kind, may see the item) gets a delivery; C wants only notices; A
    // wants only adoptions.
    let done = cityx_db::Processed {
        playback: "hls/index.m3u8".into(),
        derived_json: "{}".into(),
        qc_json: "{}".into(),
        qc_verdict: "pass".into(),
        rejection: None,
    };
    assert!(repo.finish_processing(&job, &done).await.expect("finish"));
    // The webhooks' event subscriber hands the events over; handed over again, they make
    // nothing twice.
    let fan_out = |after: i64| {
        let repo = repo.clone();
        async move {
            let events = repo.events_after(after, 100).await.expect("events");
            let last = events.last().map_or(after, |e| e.seq);
            (
                repo.enqueue_deliveries(&events).await.expect("fan out"),
                last,
            )
        }
    };
    let (made, seen) = fan_out(0).await;
    assert_eq!(made, 1);
    assert_eq!(fan_out(0).await, (0, seen));
    let deliveries = |hook: WebhookId| {
        let repo = repo.clone();
        async move {
            repo.list_deliveries(TenantScope::All, hook, 50)
                .await
                .expect("deliveries")
        }
    };
    let to_b = deliveries(on_b).await;
    assert_eq!(to_b.len(), 1);
    assert_eq!(
        (to_b[0].event_kind, to_b[0].state, to_b[0].attempts),
        (EventKind::ItemPublished, DeliveryState::Pending, 0)
    );
    assert!(deliveries(on_a).await.is_empty());
    assert!(deliveries(on_c).await.is_empty());

    // The delivery's job is in the queue under the same id; its work carries the event.
    let claimed = repo
        .claim_job(
            &[WEBHOOK_JOB],
            "worker",
            cityx_core::now() + Duration::seconds(30),
        )
        .await
        .expect("claim")
        .expect("the delivery's job");
    assert_eq!((claimed.id, claimed.station_id), (to_b[0].id, Some(b.id)));
    let work = repo
        .delivery_work(claimed.id, cityx_core::now())
        .await
        .expect("work")
        .expect("known");
    assert_eq!(work.secret, "whsec_test");
    assert_eq!(work.station_id, b.id);
    let event = work.event.expect("B may see it");
    assert_eq!(
        (event.kind, event.asset_id),
        (EventKind::ItemPublished, Some(a.id))
    );

    // Attempts: a failure that is not the last stays pending; the last one fails it.
    let failed = Attempt::Failed {
        status: Some(503),
        error: "the server answered HTTP 503".into(),
    };
    repo.record_attempt(claimed.id, &failed, false)
        .await
        .expect("attempt");
    let d = &deliveries(on_b).await[0];
    assert_eq!(
        (d.state, d.attempts, d.response_status),
        (DeliveryState::Pending, 1, Some(503))
    );
    let scope_b = TenantScope::Station(b.id);
    let retry = audit(AuditAction::DeliveryRetried, Some(b.id));
    let early = repo
        .retry_delivery(scope_b, on_b, claimed.id, &retry)
        .await
        .expect_err("not failed yet");
    assert!(matches!(early, cityx_db::Error::WrongState { .. }));
    repo.record_attempt(claimed.id, &failed, true)
        .await
        .expect("attempt");
    assert!(
        repo.finish_job(
            &claimed,
            &cityx_db::JobOutcome::Dead {
                error: "503".into()
            }
        )
        .await
        .expect("dead")
    );
    assert_eq!(deliveries(on_b).await[0].state, DeliveryState::Failed);
    assert!(
        repo.retry_delivery(TenantScope::Station(c.id), on_b, claimed.id, &retry)
            .await
            .expect_err("another station's")
            .is_not_found()
    );
    repo.retry_delivery(scope_b, on_b, claimed.id, &retry)
        .await
        .expect("retry");
    assert_eq!(deliveries(on_b).await[0].state, DeliveryState::Pending);
    let again = repo
        .claim_job(
            &[WEBHOOK_JOB],
            "worker",
            cityx_core::now() + Duration::seconds(30),
        )
        .await
        .expect("claim")
        .expect("queued again");
    assert_eq!(again.id, claimed.id);
    repo.record_attempt(again.id, &Attempt::Delivered { status: 204 }, false)
        .await
        .expect("attempt");
    let d = &deliveries(on_b).await[0];
    assert_eq!(
        (d.state, d.attempts, d.response_status, d.error.as_deref()),
        (DeliveryState::Delivered, 3, Some(204), None)
    );

    // An adoption by B: the contributor's webhook (adoptions only) and B's both hear of it;
    // C's (notices only) does not.
    let eb = add_user(&repo, "ed@whb.cn", Role::Editor, Some(b.id)).await;
    let (ad, au) = adoption_of(&a, &b, &eb);
    repo.insert_adoption(&ad, &au).await.expect("adopt");
    assert_eq!(fan_out(seen).await.0, 2);
    assert_eq!(
        deliveries(on_a)
            .await
            .iter()
            .map(|d| d.event_kind)
            .collect::<Vec<_>>(),
        [EventKind::AdoptionCreated]
    );
    assert_eq!(deliveries(on_b).await.len(), 2);
    assert!(deliveries(on_c).await.is_empty());

    // A deleted webhook gets nothing new, and what was waiting carries no event.
    let waiting = deliveries(on_b).await[0].clone();
    repo.delete_webhook(
        scope_b,
        on_b,
        &audit(AuditAction::WebhookDeleted, Some(b.id)),
    )
    .await
    .expect("delete");
    let work = repo
        .delivery_work(waiting.id, cityx_core::now())
        .await
        .expect("work")
        .expect("known");
    assert!(work.event.is_none());
    assert!(repo.list_webhooks(scope_b).await.expect("list").is_empty());
    assert!(
        repo.delete_webhook(
            scope_b,
            on_b,
            &audit(AuditAction::WebhookDeleted, Some(b.id))
        )
        .await
        .expect_err("gone")
        .is_not_found()
    );
}

pub async fn follows_are_personal_unique_and_remember_the_last_look(repo: Arc<dyn Repo>) {
    use cityx_core::{FollowId, FollowTarget};
    let st = add_station(&repo, "fol").await;
    let me = add_user(&repo, "ed@fol.cn", Role::Editor, Some(st.id)).await;
    let other = add_user(&repo, "ed2@fol.cn", Role::Editor, Some(st.id)).await;
    let kw = FollowTarget::parse("keyword", "台风").expect("keyword");
    let f = repo
        .insert_follow(FollowId::new(), me.id, &kw, "台风")
        .await
        .expect("follow");
    assert_eq!(f.seen_at, f.created_at);
    let twice = repo
        .insert_follow(FollowId::new(), me.id, &kw, "台风")
        .await
        .expect_err("twice");
    assert!(twice.is_conflict(), "{twice:?}");
    repo.insert_follow(FollowId::new(), other.id, &kw, "台风")
        .await
        .expect("someone else may follow the same");
    assert!(
        repo.get_follow(other.id, f.id)
            .await
            .expect_err("not theirs")
            .is_not_found()
    );
    let later = f.seen_at + Duration::minutes(5);
    repo.mark_follow_seen(me.id, f.id, later)
        .await
        .expect("seen");
    assert_eq!(
        repo.get_follow(me.id, f.id).await.expect("get").seen_at,
        later
    );
    assert!(
        repo.mark_follow_seen(other.id, f.id, later)
            .await
            .expect_err("not theirs")
            .is_not_found()
    );
    for i in 1..cityx_core::follow::MAX_PER_USER {
        let t = FollowTarget::parse("keyword", &format!("词{i}")).expect("keyword");
        repo.insert_follow(FollowId::new(), me.id, &t, "x")
            .await
            .expect("up to the limit");
    }
    let t = FollowTarget::parse("keyword", "再多一个").expect("keyword");
    assert!(matches!(
        repo.insert_follow(FollowId::new(), me.id, &t, "x").await,
        Err(cityx_db::Error::WrongState { .. })
    ));
    assert_eq!(
        repo.list_follows(me.id).await.expect("list").len(),
        cityx_core::follow::MAX_PER_USER
    );
    repo.delete_follow(me.id, f.id).await.expect("unfollow");
    assert!(
        repo.delete_follow(me.id, f.id)
            .await
            .expect_err("gone")
            .is_not_found()
    );
    assert_eq!(repo.list_follows(other.id).await.expect("list").len(), 1);
}

pub use crate::caps::caps_hold_when_requests_race_for_the_last_places;
pub use crate::live::{
    channels_are_watched_as_shared_and_held_by_one_session,
    pulling_channels_are_offered_while_unheld, restream_targets_stay_with_their_station,
};
pub use crate::spine::{
    periodic_tasks_fire_once_per_due_time, processes_are_held_by_one_node_at_a_time,
};
