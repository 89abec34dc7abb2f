//! Follows over HTTP: an editor follows a keyword, a station and a zone and sees what is new
//! since the last look, under the items' rights; looking resets the count.

use cityx_testkit::{TestApp, World, date_in};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The caller's follows once `ready` accepts them (the index follows within about a second).
async fn follows_until(app: &TestApp, token: &str, ready: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (s, b) = app.get("/api/v1/follows", token).await;
        assert_eq!(s, 200, "{b}");
        let items = b["items"].as_array().expect("items").clone();
        if ready(&items) {
            return items;
        }
        assert!(Instant::now() < deadline, "follows never became ready: {b}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn news<'a>(items: &'a [Value], label: &str) -> &'a Value {
    items
        .iter()
        .find(|f| f["follow"]["label"] == label)
        .unwrap_or_else(|| panic!("no follow {label}: {items:?}"))
}

#[tokio::test]
async fn editors_follow_keywords_stations_and_zones_and_see_what_is_new() {
    let app = TestApp::spawn_with(|s| s.jobs.enabled = false).await;
    let w = World::seed(&app).await;
    let (ea, eb) = (
        w.user("editor@a").token.clone(),
        w.user("editor@b").token.clone(),
    );
    let old = app.item_with(&ea, &[("title", "台风过后 街道清理")]).await;
    let (_, z) = app
        .post(
            "/api/v1/zones",
            &app.admin_token,
            json!({ "title": "防汛专区", "starts_on": date_in(-1), "ends_on": date_in(30) }),
        )
        .await;
    let zone = z["id"].as_str().expect("zone").to_owned();

    // B follows a keyword, station A and the zone; bad follows are refused by field.
    let follow = |body: Value| {
        let (app, eb) = (&app, eb.clone());
        async move { app.post("/api/v1/follows", &eb, body).await }
    };
    for (body, status, field_code) in [
        (
            json!({"kind": "city", "target": "杭州"}),
            422,
            Some("bad_value"),
        ),
        (
            json!({"kind": "keyword", "target": " "}),
            422,
            Some("required"),
        ),
        (
            json!({"kind": "station", "target": "甲台"}),
            422,
            Some("bad_format"),
        ),
        (
            json!({"kind": "zone", "target": uuid::Uuid::now_v7()}),
            422,
            Some("not_found"),
        ),
        (json!({"kind": "keyword"}), 400, None),
    ] {
        let (s, b) = follow(body.clone()).await;
        assert_eq!(s, status, "{body}: {b}");
        if let Some(c) = field_code {
            assert_eq!(b["error"]["fields"][0]["code"], c, "{body}: {b}");
        }
    }
    let (s, kw) = follow(json!({"kind": "keyword", "target": "台风"})).await;
    assert_eq!(s, 201, "{kw}");
    assert_eq!(
        (kw["kind"].as_str(), kw["label"].as_str()),
        (Some("keyword"), Some("台风"))
    );
    let (s, again) = follow(json!({"kind": "keyword", "target": "台风"})).await;
    assert_eq!(s, 422);
    assert_eq!(again["error"]["fields"][0]["code"], "already_followed");
    let (s, st) = follow(json!({"kind": "station", "target": w.id_a()})).await;
    assert_eq!((s.as_u16(), st["label"].as_str()), (201, Some("甲电视台")));
    let (s, zf) = follow(json!({"kind": "zone", "target": zone})).await;
    assert_eq!((s.as_u16(), zf["label"].as_str()), (201, Some("防汛专区")));

    // A publishes three items: one about the typhoon, one private, one into the zone.
    let typhoon = app.item_with(&ea, &[("title", "台风登陆 沿海撤离")]).await;
    let private = app.item_with(&ea, &[("title", "台风内部会商")]).await;
    app.set_rights(&ea, &private, json!({"visibility": "private"}))
        .await;
    let flood = app.item_with(&ea, &[("title", "城区排涝进行时")]).await;
    assert_eq!(app.finish_pending().await, 4);
    let (s, b) = app
        .post(
            &format!("/api/v1/zones/{zone}/items"),
            &ea,
            json!({"asset_id": flood}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let items = follows_until(&app, &eb, |items| {
        items.len() == 3
            && items
                .iter()
                .map(|f| f["new_items"].as_u64().unwrap_or(0))
                .sum::<u64>()
                == 4
    })
    .await;
    let ids = |f: &Value| -> Vec<String> {
        f["latest"]
            .as_array()
            .expect("latest")
            .iter()
            .map(|h| h["id"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    // The old item came before the follow; the private one is not B's to see.
    assert_eq!(ids(news(&items, "台风")), [typhoon.as_str()]);
    assert_eq!(
        ids(news(&items, "甲电视台")),
        [flood.clone(), typhoon.clone()]
    );
    assert_eq!(ids(news(&items, "防汛专区")), [flood.as_str()]);
    let all = items.iter().map(|f| f.to_string()).collect::<String>();
    assert!(!all.contains(&private) && !all.contains(&old), "{all}");

    // Looking resets the count; A cannot look at or remove B's follows.
    let kw_id = kw["id"].as_str().expect("id");
    let (s, b) = app
        .post(&format!("/api/v1/follows/{kw_id}/seen"), &ea, json!({}))
        .await;
    assert_eq!(
        (s.as_u16(), b["error"]["code"].as_str()),
        (404, Some("follow_not_found"))
    );
    let (s, seen) = app
        .post(&format!("/api/v1/follows/{kw_id}/seen"), &eb, json!({}))
        .await;
    assert_eq!(s, 200, "{seen}");
    let at = |v: &Value| {
        let s = v["seen_at"].as_str().expect("seen_at");
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .expect("rfc3339")
    };
    assert!(at(&seen) > at(&kw), "{seen} after {kw}");
    let items = follows_until(&app, &eb, |_| true).await;
    assert_eq!(news(&items, "台风")["new_items"], 0);
    assert_eq!(news(&items, "甲电视台")["new_items"], 2);
    let (_, mine) = app.get("/api/v1/follows", &ea).await;
    assert_eq!(mine["items"], json!([]), "follows are personal");
    let (s, _) = app
        .call(
            "DELETE",
            &format!("/api/v1/follows/{kw_id}"),
            Some(&ea),
            None,
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = app
        .call(
            "DELETE",
            &format!("/api/v1/follows/{kw_id}"),
            Some(&eb),
            None,
        )
        .await;
    assert_eq!(s, 204);
    assert_eq!(follows_until(&app, &eb, |_| true).await.len(), 2);
    app.stop().await;
}
