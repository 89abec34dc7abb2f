//! Every endpoint with every role: allowed or denied, and nothing of another station leaks.

use cityx_testkit::{TestApp, World, date_in};
use serde_json::{Value, json};

/// The roles that act; station roles belong to station A. Station B is the "other" station.
const ACTORS: [&str; 5] = [
    "hub_admin",
    "hub_editor",
    "station_admin@a",
    "editor@a",
    "viewer@a",
];

struct Case {
    name: &'static str,
    method: &'static str,
    path: String,
    body: Option<Value>,
    /// Expected status for each of ACTORS, in order.
    expect: [u16; 5],
}

fn case(
    name: &'static str,
    method: &'static str,
    path: String,
    body: Option<Value>,
    expect: [u16; 5],
) -> Case {
    Case {
        name,
        method,
        path,
        body,
        expect,
    }
}

/// A fresh token of `owner`, made by the admin, so that revoking it in one row does not
/// affect the next.
async fn fresh_token(app: &TestApp, owner: &str) -> String {
    let (s, b) = app
        .post(
            "/api/v1/tokens",
            &app.admin_token,
            json!({ "name": "victim", "scopes": ["read"], "user_id": owner }),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    b["token"]["id"].as_str().expect("id").to_owned()
}

/// An item of `who`'s station, with a poster.
async fn item_of(app: &TestApp, w: &World, who: &str, body: &'static [u8]) -> String {
    let id = app.small_item(&w.user(who).token, body).await;
    app.app()
        .pipeline()
        .store_bytes(id.parse().expect("id"), "poster.jpg", "jpeg".into())
        .await
        .expect("poster");
    id
}

#[tokio::test]
async fn every_endpoint_with_every_role() {
    // Webhook addresses are on loopback (port 9, where nothing listens).
    let app = TestApp::spawn_with(|s| s.fetch.allow_cidrs = vec!["127.0.0.1/32".into()]).await;
    let w = World::seed(&app).await;
    let (a, b) = (w.id_a().to_owned(), w.id_b().to_owned());
    let viewer_a = w.user("viewer@a").id.clone();
    let viewer_b = w.user("viewer@b").id.clone();
    let editor_a = w.user("editor@a").id.clone();
    let editor_b = w.user("editor@b").id.clone();
    // A password reset revokes every token of its target, so resets aim at people who are
    // not among the actors.
    let bystander = |station: String, email: &'static str| {
        let app = &app;
        async move {
            let body = json!({ "email": email, "display_name": "旁观者", "role": "viewer", "station_id": station });
            let (s, created) = app.post("/api/v1/users", &app.admin_token, body).await;
            assert_eq!(s, 201, "{created}");
            created["user"]["id"].as_str().expect("id").to_owned()
        }
    };
    let bystander_a = bystander(a.clone(), "bystander.a@test.cn").await;
    let bystander_b = bystander(b.clone(), "bystander.b@test.cn").await;
    let patch_station = || Some(json!({ "contact_name": "值班室" }));
    let item_a = item_of(&app, &w, "editor@a", b"a").await;
    let item_b = item_of(&app, &w, "editor@b", b"b").await;
    let (_, z) = app
        .post(
            "/api/v1/zones",
            &app.admin_token,
            json!({ "title": "矩阵专区", "starts_on": date_in(-1), "ends_on": date_in(300) }),
        )
        .await;
    let zone = z["id"].as_str().expect("zone").to_owned();
    let (s, h) = app
        .post(
            "/api/v1/webhooks",
            &w.user("station_admin@b").token,
            json!({ "url": "http://127.0.0.1:9/b" }),
        )
        .await;
    assert_eq!(s, 201, "{h}");
    let hook_b = h["webhook"]["id"].as_str().expect("hook").to_owned();
    let no_delivery = uuid::Uuid::now_v7();
    // A supervised process of station B (subsystems create them; none does over HTTP yet).
    let process_b = cityx_core::ProcessId::new();
    app.app()
        .repo()
        .insert_process(&cityx_db::NewProcess {
            id: process_b,
            kind: "relay".into(),
            subject: cityx_core::process::Subject {
                kind: "channel".into(),
                id: "b-1".into(),
            },
            station_id: Some(b.parse().expect("station id")),
            spec: json!({}),
        })
        .await
        .expect("process of B");

    let mut failures = Vec::new();
    for (i, actor) in ACTORS.iter().enumerate() {
        let me = w.user(actor);
        let uniq = actor.replace(['@', '_'], "-");
        let cases = vec![
            case(
                "me",
                "GET",
                "/api/v1/me".into(),
                None,
                [200, 200, 200, 200, 200],
            ),
            case(
                "list stations",
                "GET",
                "/api/v1/stations".into(),
                None,
                [200, 200, 200, 200, 200],
            ),
            case(
                "create station",
                "POST",
                "/api/v1/stations".into(),
                Some(
                    json!({ "name": "新台", "code": format!("n-{uniq}"), "city": "宁波", "province": "浙江", "region": "east" }),
                ),
                [201, 403, 403, 403, 403],
            ),
            case(
                "get own station",
                "GET",
                format!("/api/v1/stations/{a}"),
                None,
                [200, 200, 200, 200, 200],
            ),
            case(
                "get other station",
                "GET",
                format!("/api/v1/stations/{b}"),
                None,
                [200, 200, 404, 404, 404],
            ),
            case(
                "patch own station",
                "PATCH",
                format!("/api/v1/stations/{a}"),
                patch_station(),
                [200, 403, 403, 403, 403],
            ),
            case(
                "patch other station",
                "PATCH",
                format!("/api/v1/stations/{b}"),
                patch_station(),
                [200, 403, 404, 404, 404],
            ),
            case(
                "list users",
                "GET",
                "/api/v1/users".into(),
                None,
                [200, 200, 200, 403, 403],
            ),
            case(
                "list other station's users",
                "GET",
                format!("/api/v1/users?station_id={b}"),
                None,
                [200, 200, 200, 403, 403],
            ),
            case(
                "create user in A",
                "POST",
                "/api/v1/users".into(),
                Some(
                    json!({ "email": format!("new-a-{uniq}@test.cn"), "display_name": "新人", "role": "editor", "station_id": a }),
                ),
                [201, 403, 201, 403, 403],
            ),
            case(
                "create user in B",
                "POST",
                "/api/v1/users".into(),
                Some(
                    json!({ "email": format!("new-b-{uniq}@test.cn"), "display_name": "新人", "role": "editor", "station_id": b }),
                ),
                [201, 403, 403, 403, 403],
            ),
            case(
                "create hub user",
                "POST",
                "/api/v1/users".into(),
                Some(
                    json!({ "email": format!("new-hub-{uniq}@test.cn"), "display_name": "平台", "role": "hub_editor" }),
                ),
                [201, 403, 403, 403, 403],
            ),
            case(
                "get user in A",
                "GET",
                format!("/api/v1/users/{viewer_a}"),
                None,
                [200, 200, 200, 404, 200],
            ),
            case(
                "get user in B",
                "GET",
                format!("/api/v1/users/{viewer_b}"),
                None,
                [200, 200, 404, 404, 404],
            ),
            case(
                "patch user in A",
                "PATCH",
                format!("/api/v1/users/{viewer_a}"),
                Some(json!({ "display_name": "改名" })),
                [200, 403, 200, 404, 403],
            ),
            case(
                "patch user in B",
                "PATCH",
                format!("/api/v1/users/{viewer_b}"),
                Some(json!({ "display_name": "改名" })),
                [200, 403, 404, 404, 404],
            ),
            case(
                "reset password in A",
                "POST",
                format!("/api/v1/users/{bystander_a}/password"),
                Some(json!({})),
                [200, 403, 200, 404, 404],
            ),
            case(
                "reset password in B",
                "POST",
                format!("/api/v1/users/{bystander_b}/password"),
                Some(json!({})),
                [200, 403, 404, 404, 404],
            ),
            case(
                "list tokens",
                "GET",
                "/api/v1/tokens".into(),
                None,
                [200, 200, 200, 200, 200],
            ),
            case(
                "create read token",
                "POST",
                "/api/v1/tokens".into(),
                Some(json!({ "name": "ci", "scopes": ["read"] })),
                [201, 201, 201, 201, 201],
            ),
            case(
                "create admin token",
                "POST",
                "/api/v1/tokens".into(),
                Some(json!({ "name": "ci", "scopes": ["admin"] })),
                [201, 403, 201, 403, 403],
            ),
            case(
                "create token for user in A",
                "POST",
                "/api/v1/tokens".into(),
                Some(json!({ "name": "for", "scopes": ["read"], "user_id": editor_a })),
                // editor@a is the owner here: their own token is theirs to make.
                [201, 403, 201, 201, 403],
            ),
            case(
                "revoke token of user in A",
                "DELETE",
                format!("/api/v1/tokens/{}", fresh_token(&app, &editor_a).await),
                None,
                // editor@a owns the token and may revoke it.
                [200, 404, 200, 200, 404],
            ),
            case(
                "revoke token of user in B",
                "DELETE",
                format!("/api/v1/tokens/{}", fresh_token(&app, &editor_b).await),
                None,
                [200, 404, 404, 404, 404],
            ),
            case(
                "item of A",
                "GET",
                format!("/api/v1/assets/{item_a}"),
                None,
                [200, 200, 200, 200, 200],
            ),
            case(
                "item of B",
                "GET",
                format!("/api/v1/assets/{item_b}"),
                None,
                [200, 200, 404, 404, 404],
            ),
            case(
                "file of an item of A",
                "GET",
                format!("/api/v1/assets/{item_a}/files/poster.jpg"),
                None,
                [200, 200, 200, 200, 200],
            ),
            case(
                "file of an item of B",
                "GET",
                format!("/api/v1/assets/{item_b}/files/poster.jpg"),
                None,
                [200, 200, 404, 404, 404],
            ),
            case(
                "media link to an item of A",
                "GET",
                format!("/api/v1/assets/{item_a}/media"),
                None,
                [200, 200, 200, 200, 200],
            ),
            case(
                "media link to an item of B",
                "GET",
                format!("/api/v1/assets/{item_b}/media"),
                None,
                [200, 200, 404, 404, 404],
            ),
            case(
                "related items of an item of A",
                "GET",
                format!("/api/v1/assets/{item_a}/related"),
                None,
                [200, 200, 200, 200, 200],
            ),
            case(
                "related items of an item of B",
                "GET",
                format!("/api/v1/assets/{item_b}/related"),
                None,
                [200, 200, 404, 404, 404],
            ),
            case(
                "delete item of A",
                "DELETE",
                format!("/api/v1/assets/{item_a}"),
                None,
                [200, 403, 200, 200, 403],
            ),
            case(
                "restore item of A",
                "POST",
                format!("/api/v1/assets/{item_a}/restore"),
                None,
                [200, 403, 200, 200, 403],
            ),
            case(
                "delete item of B",
                "DELETE",
                format!("/api/v1/assets/{item_b}"),
                None,
                [200, 403, 404, 404, 403],
            ),
            case(
                "restore item of B",
                "POST",
                format!("/api/v1/assets/{item_b}/restore"),
                None,
                [200, 403, 404, 404, 403],
            ),
            case(
                "audit log",
                "GET",
                "/api/v1/audit".into(),
                None,
                [200, 403, 200, 403, 403],
            ),
            case(
                "audit log of B",
                "GET",
                format!("/api/v1/audit?station_id={b}"),
                None,
                [200, 403, 200, 403, 403],
            ),
            case(
                "correct item of A",
                "POST",
                format!("/api/v1/assets/{item_a}/corrections"),
                Some(json!({ "note": "标题更正", "title": format!("更正-{uniq}") })),
                [200, 403, 200, 200, 403],
            ),
            case(
                "correct item of B",
                "POST",
                format!("/api/v1/assets/{item_b}/corrections"),
                Some(json!({ "note": "标题更正", "title": format!("更正-{uniq}") })),
                [200, 403, 404, 404, 403],
            ),
            // Without a reason, so that nothing is withdrawn whoever may.
            case(
                "withdraw item of B",
                "POST",
                format!("/api/v1/assets/{item_b}/withdrawal"),
                Some(json!({ "reason": "" })),
                [422, 403, 404, 404, 403],
            ),
            case(
                "notices",
                "GET",
                "/api/v1/notices".into(),
                None,
                [200, 200, 200, 200, 200],
            ),
            case(
                "acknowledge a notice of another station",
                "POST",
                format!("/api/v1/notices/{}/acknowledgement", uuid::Uuid::now_v7()),
                None,
                [403, 403, 404, 404, 403],
            ),
            case(
                "feed",
                "GET",
                "/api/v1/feed".into(),
                None,
                [200, 200, 200, 200, 200],
            ),
            case(
                "statistics",
                "GET",
                "/api/v1/statistics".into(),
                None,
                [200, 200, 403, 403, 403],
            ),
            case(
                "list zones",
                "GET",
                "/api/v1/zones".into(),
                None,
                [200, 200, 200, 200, 200],
            ),
            case(
                "create a zone",
                "POST",
                "/api/v1/zones".into(),
                Some(
                    json!({ "title": format!("专区-{uniq}"), "starts_on": date_in(-1), "ends_on": date_in(300) }),
                ),
                [201, 201, 403, 403, 403],
            ),
            case(
                "change a zone",
                "PUT",
                format!("/api/v1/zones/{zone}"),
                Some(
                    json!({ "title": format!("专区-{uniq}"), "starts_on": date_in(-1), "ends_on": date_in(300) }),
                ),
                [200, 200, 403, 403, 403],
            ),
            case(
                "read a zone",
                "GET",
                format!("/api/v1/zones/{zone}"),
                None,
                [200, 200, 200, 200, 200],
            ),
            case(
                "contribute B's item to a zone",
                "POST",
                format!("/api/v1/zones/{zone}/items"),
                Some(json!({ "asset_id": item_b })),
                [403, 403, 404, 404, 403],
            ),
            case(
                "take B's item out of a zone",
                "DELETE",
                format!("/api/v1/zones/{zone}/items/{item_b}"),
                None,
                [404, 404, 404, 404, 403],
            ),
            case(
                "follow a keyword",
                "POST",
                "/api/v1/follows".into(),
                Some(json!({ "kind": "keyword", "target": format!("关注-{uniq}") })),
                [201, 201, 201, 201, 201],
            ),
            case(
                "list follows",
                "GET",
                "/api/v1/follows".into(),
                None,
                [200, 200, 200, 200, 200],
            ),
            case(
                "look at someone else's follow",
                "POST",
                format!("/api/v1/follows/{no_delivery}/seen"),
                None,
                [404, 404, 404, 404, 404],
            ),
            case(
                "create a webhook",
                "POST",
                "/api/v1/webhooks".into(),
                Some(json!({ "url": format!("http://127.0.0.1:9/{uniq}") })),
                [403, 403, 201, 403, 403],
            ),
            case(
                "list webhooks",
                "GET",
                "/api/v1/webhooks".into(),
                None,
                [200, 403, 200, 403, 403],
            ),
            case(
                "read B's webhook",
                "GET",
                format!("/api/v1/webhooks/{hook_b}"),
                None,
                [200, 403, 404, 403, 403],
            ),
            case(
                "retry a delivery of B's webhook",
                "POST",
                format!("/api/v1/webhooks/{hook_b}/deliveries/{no_delivery}/retry"),
                None,
                [404, 403, 404, 403, 403],
            ),
            case(
                "delete B's webhook",
                "DELETE",
                format!("/api/v1/webhooks/{hook_b}"),
                None,
                [204, 403, 404, 403, 403],
            ),
            case(
                "list processes",
                "GET",
                "/api/v1/processes".into(),
                None,
                [200, 403, 200, 403, 403],
            ),
            case(
                "read B's process",
                "GET",
                format!("/api/v1/processes/{process_b}"),
                None,
                [200, 403, 404, 403, 403],
            ),
            case(
                "stop B's process",
                "POST",
                format!("/api/v1/processes/{process_b}/stop"),
                None,
                [200, 403, 404, 403, 403],
            ),
            case(
                "start B's process",
                "POST",
                format!("/api/v1/processes/{process_b}/start"),
                None,
                [200, 403, 404, 403, 403],
            ),
            case(
                "periodic tasks",
                "GET",
                "/api/v1/schedules".into(),
                None,
                [200, 403, 403, 403, 403],
            ),
            case(
                "statistics as CSV",
                "GET",
                "/api/v1/statistics/export?table=stations".into(),
                None,
                [200, 200, 403, 403, 403],
            ),
        ];
        for c in cases {
            let (status, body) = app
                .call(c.method, &c.path, Some(&me.token), c.body.clone())
                .await;
            if status.as_u16() != c.expect[i] {
                failures.push(format!(
                    "{actor} / {}: got {status}, want {} ({body})",
                    c.name, c.expect[i]
                ));
            }
            if !status.is_success() {
                let code = body["error"]["code"].as_str().unwrap_or("");
                if code.is_empty() {
                    failures.push(format!(
                        "{actor} / {}: error without a code: {body}",
                        c.name
                    ));
                }
            }
            // Station roles of A must never see anything of B.
            if me.station.is_some() && status.is_success() {
                let text = body.to_string();
                // B's code as a JSON string of its own: as a bare substring it also turns up
                // in random secrets (a generated password once held `stb`).
                for secret in [
                    b.as_str(),
                    "\"stb\"",
                    "乙电视台",
                    "viewer.b@",
                    "editor.b@",
                    "station_admin.b@",
                ] {
                    if text.contains(secret) {
                        failures.push(format!(
                            "{actor} / {}: response leaks `{secret}`: {text}",
                            c.name
                        ));
                    }
                }
            }
            // Without credentials, everything is 401 with the same envelope.
            let (anon, anon_body) = app.call(c.method, &c.path, None, c.body.clone()).await;
            if anon != 401 || anon_body["error"]["code"] != "unauthenticated" {
                failures.push(format!("anonymous / {}: got {anon} {anon_body}", c.name));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "permission matrix failures:\n{}",
        failures.join("\n")
    );

    // Denied attempts changed nothing: only the hub admin's station and users exist.
    let (_, stations) = app.get("/api/v1/stations", &app.admin_token).await;
    let codes: Vec<&str> = stations["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|s| s["code"].as_str())
        .collect();
    assert_eq!(codes, ["sta", "stb", "n-hub-admin"]);
    let (_, users) = app.get("/api/v1/users?limit=500", &app.admin_token).await;
    let emails: Vec<&str> = users["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|u| u["email"].as_str())
        .collect();
    for e in &emails {
        if e.starts_with("new-") {
            assert!(
                e.ends_with("hub-admin@test.cn") || *e == "new-a-station-admin-a@test.cn",
                "a denied create left {e}"
            );
        }
    }
    assert!(emails.contains(&"new-a-station-admin-a@test.cn"));
    app.stop().await;
}

#[tokio::test]
async fn lists_show_only_what_the_caller_may_see() {
    let app = TestApp::spawn().await;
    let w = World::seed(&app).await;

    let (_, all) = app.get("/api/v1/stations", &app.admin_token).await;
    assert_eq!(all["items"].as_array().map(Vec::len), Some(2));
    let sa = w.user("station_admin@a");
    let (_, own) = app.get("/api/v1/stations", &sa.token).await;
    assert_eq!(own["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(own["items"][0]["id"], w.a["id"]);

    // A station admin's user list holds exactly station A's people.
    let (_, users) = app.get("/api/v1/users", &sa.token).await;
    let mut emails: Vec<&str> = users["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|u| u["email"].as_str())
        .collect();
    emails.sort();
    assert_eq!(
        emails,
        [
            "editor.a@test.cn",
            "station_admin.a@test.cn",
            "viewer.a@test.cn"
        ]
    );
    let (_, other) = app
        .get(&format!("/api/v1/users?station_id={}", w.id_b()), &sa.token)
        .await;
    assert_eq!(other["items"], json!([]));

    // Non-admins list only their own tokens.
    let ed = w.user("editor@a");
    let (_, tokens) = app.get("/api/v1/tokens", &ed.token).await;
    let items = tokens["items"].as_array().expect("items");
    assert!(!items.is_empty());
    assert!(
        items.iter().all(|t| t["user_id"] == json!(ed.id)),
        "{tokens}"
    );
    let (s, _) = app
        .get(
            &format!("/api/v1/tokens?user_id={}", w.user("viewer@a").id),
            &ed.token,
        )
        .await;
    assert_eq!(s, 403);
    // A station admin lists the tokens of station A, never B's.
    let (_, sa_tokens) = app.get("/api/v1/tokens", &sa.token).await;
    let a_users: Vec<&str> = w
        .users
        .iter()
        .filter(|u| u.station.as_deref() == Some(w.id_a()))
        .map(|u| u.id.as_str())
        .collect();
    for t in sa_tokens["items"].as_array().expect("items") {
        assert!(
            a_users.contains(&t["user_id"].as_str().unwrap_or_default()),
            "{t}"
        );
    }

    // The audit log of a station admin holds only station A's entries.
    let (_, audit) = app.get("/api/v1/audit?limit=500", &sa.token).await;
    let entries = audit["items"].as_array().expect("items");
    assert!(!entries.is_empty());
    assert!(
        entries.iter().all(|e| e["station_id"] == w.a["id"]),
        "{audit}"
    );
    app.stop().await;
}

#[tokio::test]
async fn token_scopes_narrow_what_a_role_may_do() {
    let app = TestApp::spawn().await;
    let (s, created) = app
        .post(
            "/api/v1/tokens",
            &app.admin_token,
            json!({ "name": "read only", "scopes": ["read"] }),
        )
        .await;
    assert_eq!(s, 201, "{created}");
    let ro = created["secret"].as_str().expect("secret");
    let (s, _) = app.get("/api/v1/stations", ro).await;
    assert_eq!(s, 200);
    let body = json!({ "name": "x", "code": "xx", "city": "c", "province": "p", "region": "east" });
    let (s, err) = app.post("/api/v1/stations", ro, body).await;
    assert_eq!(
        (s.as_u16(), err["error"]["code"].as_str()),
        (403, Some("insufficient_scope"))
    );
    // A read-only token cannot mint a stronger one.
    let (s, err) = app
        .post(
            "/api/v1/tokens",
            ro,
            json!({ "name": "up", "scopes": ["read", "admin"] }),
        )
        .await;
    assert_eq!(
        (s.as_u16(), err["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    let (_, me) = app.get("/api/v1/me", ro).await;
    assert_eq!(me["scopes"], json!(["read"]));
    app.stop().await;
}
