//! Signing in, tokens and their lifecycle, and the audit trail they leave.

use cityx_core::{
    ApiToken, AuditAction, NewAudit, ScopeSet, TenantScope, TokenId, TokenKind, UserId,
};
use cityx_testkit::{ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, TestApp, World};
use serde_json::{Value, json};
// The token hash is SHA-256; the test computes it independently of the app's code.
use sha2::{Digest, Sha256};

async fn audit_actions(app: &TestApp) -> Vec<(String, bool, String)> {
    let (_, a) = app.get("/api/v1/audit?limit=500", &app.admin_token).await;
    a["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or_default().to_owned(),
                e["ok"].as_bool().unwrap_or_default(),
                e["target_id"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn wrong_passwords_are_refused_recorded_and_rate_limited() {
    let app = TestApp::spawn().await;
    let attempt = |email: &'static str, password: &'static str| {
        let app = &app;
        async move {
            let res = app
                .send(
                    "POST",
                    "/api/v1/auth/token",
                    None,
                    Some(json!({ "email": email, "password": password })),
                )
                .await;
            let status = res.status().as_u16();
            let retry = res
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body: Value = res.json().await.unwrap_or(Value::Null);
            (
                status,
                body["error"]["code"].as_str().unwrap_or("").to_owned(),
                retry,
            )
        }
    };
    // Unknown email and wrong password look the same.
    assert_eq!(attempt("nobody@x.cn", "whatever-123").await.0, 401);
    assert_eq!(
        attempt("nobody@x.cn", "whatever-123").await.1,
        "invalid_credentials"
    );
    for _ in 0..5 {
        let (s, code, _) = attempt(ADMIN_EMAIL, "wrong-password").await;
        assert_eq!((s, code.as_str()), (401, "invalid_credentials"));
    }
    // The sixth attempt within the window is refused, even with the right password.
    let (s, code, retry) = attempt(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!((s, code.as_str()), (429, "rate_limited"));
    let secs: u64 = retry.expect("Retry-After").parse().expect("seconds");
    assert!((1..=900).contains(&secs), "{secs}");

    let actions = audit_actions(&app).await;
    let failed = actions
        .iter()
        .filter(|(a, ok, _)| a == "login_failed" && !ok)
        .count();
    assert_eq!(failed, 7, "{actions:?}");
    assert!(
        actions
            .iter()
            .any(|(a, _, t)| a == "login_failed" && t == "nobody@x.cn")
    );
    assert!(
        actions
            .iter()
            .any(|(a, ok, t)| a == "login_ok" && *ok && t == ADMIN_EMAIL)
    );
    app.stop().await;
}

#[tokio::test]
async fn emails_are_case_insensitive() {
    let app = TestApp::spawn().await;
    let t = app.login("ADMIN@Hub.Test", ADMIN_PASSWORD).await;
    let (s, me) = app.get("/api/v1/me", &t).await;
    assert_eq!(
        (s.as_u16(), me["user"]["email"].as_str()),
        (200, Some(ADMIN_EMAIL))
    );
    app.stop().await;
}

#[tokio::test]
async fn unknown_expired_and_revoked_tokens_are_refused_with_their_own_codes() {
    let app = TestApp::spawn().await;
    let code = |v: &Value| v["error"]["code"].as_str().unwrap_or("").to_owned();

    for bad in [
        "cx_nope",
        &format!("cx_{}", "0".repeat(64)),
        "not even a token",
    ] {
        let (s, b) = app.get("/api/v1/me", bad).await;
        assert_eq!(
            (s.as_u16(), code(&b)),
            (401, "token_invalid".into()),
            "{bad}"
        );
    }
    let res = app
        .http
        .get(app.url("/api/v1/me"))
        .header("authorization", "Basic YTpi")
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["www-authenticate"], "Bearer");

    // Revoked.
    let (_, created) = app
        .post(
            "/api/v1/tokens",
            &app.admin_token,
            json!({ "name": "short", "scopes": ["read"] }),
        )
        .await;
    let secret = created["secret"].as_str().expect("secret").to_owned();
    let id = created["token"]["id"].as_str().expect("id").to_owned();
    assert_eq!(app.get("/api/v1/me", &secret).await.0, 200);
    let (s, revoked) = app
        .call(
            "DELETE",
            &format!("/api/v1/tokens/{id}"),
            Some(&app.admin_token),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert!(revoked["revoked_at"].is_string());
    let (s, b) = app.get("/api/v1/me", &secret).await;
    assert_eq!((s.as_u16(), code(&b)), (401, "token_revoked".into()));
    // Revoking again changes nothing and is not an error.
    assert_eq!(
        app.call(
            "DELETE",
            &format!("/api/v1/tokens/{id}"),
            Some(&app.admin_token),
            None
        )
        .await
        .0,
        200
    );

    // Revoked through another node (straight in the database): this node answers for the
    // token from memory for at most `auth.token_cache_secs`, then refuses it too.
    let (_, created) = app
        .post(
            "/api/v1/tokens",
            &app.admin_token,
            json!({ "name": "elsewhere", "scopes": ["read"] }),
        )
        .await;
    let secret = created["secret"].as_str().expect("secret").to_owned();
    let id: TokenId = created["token"]["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("id");
    assert_eq!(app.get("/api/v1/me", &secret).await.0, 200);
    let audit = NewAudit {
        actor_user_id: None,
        actor_label: "another node".into(),
        station_id: None,
        action: AuditAction::TokenRevoked,
        target_type: "token",
        target_id: id.to_string(),
        ok: true,
        ip: None,
        detail: json!({}),
    };
    app.app()
        .repo()
        .revoke_token(TenantScope::All, id, cityx_core::now(), &audit)
        .await
        .expect("revoke");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let refused = loop {
        let (s, b) = app.get("/api/v1/me", &secret).await;
        if s != 200 || std::time::Instant::now() > deadline {
            break (s.as_u16(), code(&b));
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(refused, (401, "token_revoked".into()));

    // Expired: written straight into the database, a day old.
    let (_, me) = app.get("/api/v1/me", &app.admin_token).await;
    let owner: UserId = me["user"]["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    let secret = format!("cx_{}", "ab".repeat(32));
    let now = cityx_core::now();
    let token = ApiToken {
        id: TokenId::new(),
        user_id: owner,
        station_id: None,
        name: "old".into(),
        kind: TokenKind::Api,
        prefix: secret[..10].into(),
        scopes: ScopeSet::ALL,
        created_at: now - time::Duration::days(2),
        expires_at: now - time::Duration::days(1),
        revoked_at: None,
        last_used_at: None,
    };
    let hash = {
        use std::fmt::Write;
        let digest = Sha256::digest(secret.as_bytes());
        digest.iter().fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    };
    app.app()
        .repo()
        .insert_token(&token, &hash, None, &[])
        .await
        .expect("insert");
    let (s, b) = app.get("/api/v1/me", &secret).await;
    assert_eq!((s.as_u16(), code(&b)), (401, "token_expired".into()));
    app.stop().await;
}

#[tokio::test]
async fn disabling_a_user_locks_them_out_everywhere() {
    let app = TestApp::spawn().await;
    let w = World::seed(&app).await;
    let ed = w.user("editor@a");
    let (s, _) = app
        .call(
            "PATCH",
            &format!("/api/v1/users/{}", ed.id),
            Some(&app.admin_token),
            Some(json!({ "disabled": true })),
        )
        .await;
    assert_eq!(s, 200);
    let (s, b) = app.get("/api/v1/me", &ed.token).await;
    assert_eq!(
        (s.as_u16(), b["error"]["code"].as_str()),
        (403, Some("account_disabled"))
    );
    let (s, b) = app
        .call(
            "POST",
            "/api/v1/auth/token",
            None,
            Some(json!({ "email": ed.email, "password": PASSWORD })),
        )
        .await;
    assert_eq!(
        (s.as_u16(), b["error"]["code"].as_str()),
        (403, Some("account_disabled"))
    );
    // Enabled again, the same token works.
    app.call(
        "PATCH",
        &format!("/api/v1/users/{}", ed.id),
        Some(&app.admin_token),
        Some(json!({ "disabled": false })),
    )
    .await;
    assert_eq!(app.get("/api/v1/me", &ed.token).await.0, 200);
    let actions: Vec<String> = audit_actions(&app).await.into_iter().map(|a| a.0).collect();
    assert!(
        actions.contains(&"user_disabled".to_owned())
            && actions.contains(&"user_enabled".to_owned())
    );
    app.stop().await;
}

#[tokio::test]
async fn nobody_changes_their_own_role_or_disables_themselves() {
    let app = TestApp::spawn().await;
    let (_, me) = app.get("/api/v1/me", &app.admin_token).await;
    let id = me["user"]["id"].as_str().expect("id");
    for body in [json!({ "role": "hub_editor" }), json!({ "disabled": true })] {
        let (s, b) = app
            .call(
                "PATCH",
                &format!("/api/v1/users/{id}"),
                Some(&app.admin_token),
                Some(body),
            )
            .await;
        assert_eq!(
            (s.as_u16(), b["error"]["code"].as_str()),
            (409, Some("cannot_change_self"))
        );
    }
    // Renaming oneself is fine.
    let (s, b) = app
        .call(
            "PATCH",
            &format!("/api/v1/users/{id}"),
            Some(&app.admin_token),
            Some(json!({ "display_name": "总管理员" })),
        )
        .await;
    assert_eq!(
        (s.as_u16(), b["display_name"].as_str()),
        (200, Some("总管理员"))
    );
    app.stop().await;
}

#[tokio::test]
async fn roles_change_within_their_kind_and_are_audited() {
    let app = TestApp::spawn().await;
    let w = World::seed(&app).await;
    let v = w.user("viewer@a");
    let sa = w.user("station_admin@a");
    let (s, b) = app
        .call(
            "PATCH",
            &format!("/api/v1/users/{}", v.id),
            Some(&sa.token),
            Some(json!({ "role": "editor" })),
        )
        .await;
    assert_eq!((s.as_u16(), b["role"].as_str()), (200, Some("editor")));
    // A station admin cannot promote into the hub, and nobody crosses hub/station kinds.
    let (s, _) = app
        .call(
            "PATCH",
            &format!("/api/v1/users/{}", v.id),
            Some(&sa.token),
            Some(json!({ "role": "hub_admin" })),
        )
        .await;
    assert_eq!(s, 422);
    let (s, b) = app
        .call(
            "PATCH",
            &format!("/api/v1/users/{}", v.id),
            Some(&app.admin_token),
            Some(json!({ "role": "hub_admin" })),
        )
        .await;
    assert_eq!(
        (s.as_u16(), b["error"]["fields"][0]["field"].as_str()),
        (422, Some("role"))
    );
    let (_, audit) = app
        .get("/api/v1/audit?action=role_changed", &app.admin_token)
        .await;
    let e = &audit["items"][0];
    assert_eq!(
        (e["detail"]["from"].as_str(), e["detail"]["to"].as_str()),
        (Some("viewer"), Some("editor"))
    );
    assert_eq!(e["actor_label"], json!(sa.email));
    assert_eq!(
        e["ip"], "127.0.0.1",
        "changes record where the caller came from"
    );
    app.stop().await;
}

#[tokio::test]
async fn password_changes_and_resets() {
    let app = TestApp::spawn().await;
    let w = World::seed(&app).await;
    let code = |v: &Value| v["error"]["code"].as_str().unwrap_or("").to_owned();
    // A token without the admin scope cannot change a password, not even with the right one.
    let ed = w.user("editor@a");
    let body = json!({ "current_password": PASSWORD, "new_password": "brand-new-password" });
    let (s, b) = app.post("/api/v1/me/password", &ed.token, body).await;
    assert_eq!((s.as_u16(), code(&b)), (403, "insufficient_scope".into()));

    let sa = w.user("station_admin@a");
    let body = json!({ "current_password": "wrong-one-123", "new_password": "brand-new-password" });
    let (s, b) = app.post("/api/v1/me/password", &sa.token, body).await;
    assert_eq!(
        (s.as_u16(), b["error"]["fields"][0]["field"].as_str()),
        (422, Some("current_password"))
    );
    let body = json!({ "current_password": PASSWORD, "new_password": "short" });
    assert_eq!(
        app.post("/api/v1/me/password", &sa.token, body).await.0,
        422
    );
    // A named token of the admin's, made before the change, ends with it.
    let (_, named) = app
        .post(
            "/api/v1/tokens",
            &sa.token,
            json!({ "name": "script", "scopes": ["read"] }),
        )
        .await;
    let named = named["secret"].as_str().expect("secret").to_owned();
    let body = json!({ "current_password": PASSWORD, "new_password": "brand-new-password" });
    let (s, b) = app.post("/api/v1/me/password", &sa.token, body).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["tokens_revoked"], 2, "the login token and the named one");
    for t in [&sa.token, &named] {
        let (s, b) = app.get("/api/v1/me", t).await;
        assert_eq!((s.as_u16(), code(&b)), (401, "token_revoked".into()));
    }
    app.login(&sa.email, "brand-new-password").await;

    // An admin's reset without a password generates one, shown once, and ends every token.
    let (s, b) = app
        .post(
            &format!("/api/v1/users/{}/password", ed.id),
            &app.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(b["tokens_revoked"], 1, "{b}");
    let generated = b["generated_password"].as_str().expect("generated");
    assert_eq!(generated.chars().count(), 16);
    assert_eq!(app.get("/api/v1/me", &ed.token).await.0, 401);
    app.login(&ed.email, generated).await;
    app.stop().await;
}

/// A stolen admin token is not a password oracle: wrong current passwords count toward the
/// same limit as sign-ins, so the sixth guess is refused even when it is right.
#[tokio::test]
async fn wrong_current_passwords_count_toward_the_sign_in_limit() {
    let app = TestApp::spawn().await;
    let w = World::seed(&app).await;
    let sa = w.user("station_admin@b");
    for i in 0..5 {
        let body = json!({ "current_password": format!("guess-{i}-wrong"), "new_password": "brand-new-password" });
        let (s, b) = app.post("/api/v1/me/password", &sa.token, body).await;
        assert_eq!(s, 422, "{b}");
    }
    let body = json!({ "current_password": PASSWORD, "new_password": "brand-new-password" });
    let (s, b) = app.post("/api/v1/me/password", &sa.token, body).await;
    assert_eq!(
        (s.as_u16(), b["error"]["code"].as_str()),
        (429, Some("rate_limited"))
    );
    // Signing in with the (unchanged) password is refused too, for the same window.
    let res = app
        .send(
            "POST",
            "/api/v1/auth/token",
            None,
            Some(json!({ "email": sa.email, "password": PASSWORD })),
        )
        .await;
    assert_eq!(res.status(), 429);
    app.stop().await;
}

/// Twenty wrong passwords for one email at once: the limit of five holds however they
/// interleave, and the same for one address across many emails.
#[tokio::test]
async fn parallel_wrong_passwords_cannot_race_the_limit() {
    let app = TestApp::spawn().await;
    let attempt = |email: String| {
        let app = &app;
        async move {
            app.send(
                "POST",
                "/api/v1/auth/token",
                None,
                Some(json!({ "email": email, "password": "wrong-password" })),
            )
            .await
            .status()
            .as_u16()
        }
    };
    let tally = |codes: Vec<u16>| {
        let wrong = codes.iter().filter(|&&c| c == 401).count();
        let limited = codes.iter().filter(|&&c| c == 429).count();
        assert_eq!(wrong + limited, codes.len(), "{codes:?}");
        (wrong, limited)
    };
    let one_email = futures_util::future::join_all((0..20).map(|_| attempt(ADMIN_EMAIL.into())));
    let (wrong, limited) = tally(one_email.await);
    assert!(
        wrong <= 5,
        "{wrong} wrong passwords answered past a limit of 5"
    );
    assert!(limited >= 15, "{limited}");

    // The address limit (30 by default): 40 different emails from one address.
    let many = futures_util::future::join_all((0..40).map(|i| attempt(format!("who{i}@x.cn"))));
    // Five failures from this address are already counted.
    let (wrong, limited) = tally(many.await);
    assert!(wrong <= 25, "{wrong} failures passed from one address");
    assert!(limited >= 15, "{limited}");
    app.stop().await;
}

/// A token makes tokens no wider and no longer-lived than itself, and they end with it.
#[tokio::test]
async fn tokens_made_with_a_token_end_with_it() {
    let app = TestApp::spawn().await;
    let code = |v: &Value| v["error"]["code"].as_str().unwrap_or("").to_owned();
    let (s, short) = app
        .post(
            "/api/v1/tokens",
            &app.admin_token,
            json!({ "name": "short", "scopes": ["read", "admin"] }),
        )
        .await;
    assert_eq!(s, 201, "{short}");
    let short_secret = short["secret"].as_str().expect("secret").to_owned();
    let short_expiry = short["token"]["expires_at"]
        .as_str()
        .expect("expiry")
        .to_owned();
    // Made with a 12-hour sign-in token, it ends with that token rather than in 90 days.
    let (_, me) = app.get("/api/v1/tokens", &app.admin_token).await;
    let login_expiry = me["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|t| t["kind"] == "login")
        .and_then(|t| t["expires_at"].as_str())
        .expect("the login token")
        .to_owned();
    assert_eq!(short_expiry, login_expiry);

    // Asked to outlive its maker: refused, with the reason.
    let (s, b) = app
        .post(
            "/api/v1/tokens",
            &short_secret,
            json!({ "name": "longer", "scopes": ["read"], "expires_in_days": 30 }),
        )
        .await;
    assert_eq!(
        (s.as_u16(), b["error"]["fields"][0]["code"].as_str()),
        (422, Some("outlives_token")),
        "{b}"
    );
    // Wider than its maker: refused.
    let (s, _) = app
        .post(
            "/api/v1/tokens",
            &short_secret,
            json!({ "name": "wider", "scopes": ["read", "write"] }),
        )
        .await;
    assert_eq!(s, 403);
    // By default it ends when its maker does, and a token it makes too.
    let (s, child) = app
        .post(
            "/api/v1/tokens",
            &short_secret,
            json!({ "name": "child", "scopes": ["read", "admin"] }),
        )
        .await;
    assert_eq!(s, 201, "{child}");
    assert_eq!(
        child["token"]["expires_at"].as_str(),
        Some(short_expiry.as_str())
    );
    let child_secret = child["secret"].as_str().expect("secret").to_owned();
    let (_, grandchild) = app
        .post(
            "/api/v1/tokens",
            &child_secret,
            json!({ "name": "grandchild", "scopes": ["read"] }),
        )
        .await;
    let grandchild = grandchild["secret"].as_str().expect("secret").to_owned();
    assert_eq!(app.get("/api/v1/me", &grandchild).await.0, 200);

    let short_id = short["token"]["id"].as_str().expect("id");
    let (s, _) = app
        .call(
            "DELETE",
            &format!("/api/v1/tokens/{short_id}"),
            Some(&app.admin_token),
            None,
        )
        .await;
    assert_eq!(s, 200);
    for t in [&short_secret, &child_secret, &grandchild] {
        let (s, b) = app.get("/api/v1/me", t).await;
        assert_eq!((s.as_u16(), code(&b)), (401, "token_revoked".into()));
    }
    assert_eq!(app.get("/api/v1/me", &app.admin_token).await.0, 200);
    app.stop().await;
}

#[tokio::test]
async fn created_users_get_a_generated_password_when_none_is_given() {
    let app = TestApp::spawn().await;
    let w = World::seed(&app).await;
    let body = json!({ "email": "Fresh@Test.cn", "display_name": "新同事", "role": "viewer", "station_id": w.id_a() });
    let (s, b) = app.post("/api/v1/users", &app.admin_token, body).await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["user"]["email"], "fresh@test.cn");
    let p = b["generated_password"].as_str().expect("generated");
    let t = app.login("fresh@test.cn", p).await;
    assert_eq!(app.get("/api/v1/me", &t).await.1["user"]["role"], "viewer");
    // Hub roles have no station; station roles need one.
    let bad = json!({ "email": "x@test.cn", "display_name": "x", "role": "editor" });
    let (s, b) = app.post("/api/v1/users", &app.admin_token, bad).await;
    assert_eq!(
        (s.as_u16(), b["error"]["fields"][0]["field"].as_str()),
        (422, Some("station_id"))
    );
    let bad = json!({ "email": "x@test.cn", "display_name": "x", "role": "hub_editor", "station_id": w.id_a() });
    assert_eq!(
        app.post("/api/v1/users", &app.admin_token, bad).await.0,
        422
    );
    let dup = json!({ "email": "FRESH@test.cn", "display_name": "x", "role": "viewer", "station_id": w.id_a() });
    let (s, b) = app.post("/api/v1/users", &app.admin_token, dup).await;
    assert_eq!(
        (s.as_u16(), b["error"]["code"].as_str()),
        (409, Some("email_taken"))
    );
    app.stop().await;
}
