//! Topic zones over HTTP: the hub creates one, stations contribute in its window, the zone
//! shows who has and has not, its items follow their rights, and search filters by zone.

use cityx_testkit::{TestApp, World, date_in};
use serde_json::{Value, json};

fn code(b: &Value) -> Option<&str> {
    b["error"]["code"].as_str()
}

#[tokio::test]
async fn stations_contribute_to_a_zone_and_it_shows_their_progress() {
    let app = TestApp::spawn_with(|s| s.jobs.enabled = false).await;
    let w = World::seed(&app).await;
    let (ea, eb, va) = (
        w.user("editor@a").token.clone(),
        w.user("editor@b").token.clone(),
        w.user("viewer@a").token.clone(),
    );
    let hub = w.user("hub_editor").token.clone();
    let one = app
        .item_with(&ea, &[("title", "进博会开幕 首日人流")])
        .await;
    let two = app.item_with(&ea, &[("title", "进博会展台探访")]).await;
    let private = app.item_with(&ea, &[("title", "进博会内部采访")]).await;
    let theirs = app.item_with(&eb, &[("title", "乙台的无关素材")]).await;
    assert_eq!(app.finish_pending().await, 4);
    app.set_rights(&ea, &private, json!({"visibility": "private"}))
        .await;

    // Only the hub creates zones; bad zones are refused field by field.
    let body = json!({
        "title": "进博会专区", "brief": "各台围绕进博会供稿", "cover_asset_id": one,
        "starts_on": date_in(-1), "ends_on": date_in(7),
        "invited": [{"station_id": w.id_a(), "target": 2}, {"station_id": w.id_b(), "target": 1}],
    });
    let (s, b) = app.post("/api/v1/zones", &ea, body.clone()).await;
    assert_eq!((s.as_u16(), code(&b)), (403, Some("forbidden")));
    for (bad, field) in [
        (
            json!({"title": "", "starts_on": date_in(0), "ends_on": date_in(1)}),
            "title",
        ),
        (
            json!({"title": "x", "starts_on": date_in(3), "ends_on": date_in(1)}),
            "ends_on",
        ),
        (
            json!({"title": "x", "starts_on": "明天", "ends_on": date_in(1)}),
            "starts_on",
        ),
        (
            json!({"title": "x", "starts_on": date_in(0), "ends_on": date_in(1),
                   "invited": [{"station_id": uuid::Uuid::now_v7(), "target": 1}]}),
            "invited",
        ),
        (
            json!({"title": "x", "starts_on": date_in(0), "ends_on": date_in(1),
                   "cover_asset_id": uuid::Uuid::now_v7()}),
            "cover_asset_id",
        ),
        // A private item cannot be a cover: its id would show to every station.
        (
            json!({"title": "x", "starts_on": date_in(0), "ends_on": date_in(1),
                   "cover_asset_id": private}),
            "cover_asset_id",
        ),
    ] {
        let (s, b) = app.post("/api/v1/zones", &hub, bad).await;
        assert_eq!(
            (s.as_u16(), code(&b)),
            (422, Some("validation_failed")),
            "{b}"
        );
        assert_eq!(b["error"]["fields"][0]["field"], field, "{b}");
    }
    let (s, zone) = app.post("/api/v1/zones", &hub, body).await;
    assert_eq!(s, 201, "{zone}");
    let zid = zone["id"].as_str().expect("id").to_owned();
    // A cover made private later is left out for those who may no longer see it.
    app.set_rights(&ea, &one, json!({"visibility": "private"}))
        .await;
    let cover_for = |token: String| {
        let app = &app;
        let path = format!("/api/v1/zones/{zid}");
        async move { app.get(&path, &token).await.1["zone"]["cover_asset_id"].clone() }
    };
    assert_eq!(cover_for(eb.clone()).await, Value::Null);
    assert_eq!(cover_for(ea.clone()).await, json!(one));
    let (_, listed) = app.get("/api/v1/zones", &eb).await;
    assert_eq!(
        listed["items"][0]["cover_asset_id"],
        Value::Null,
        "{listed}"
    );
    app.set_rights(&ea, &one, json!({"visibility": "exchange"}))
        .await;
    let items = format!("/api/v1/zones/{zid}/items");

    // Stations contribute their own items; not others', not as viewers, once each.
    for id in [&one, &private] {
        let (s, b) = app.post(&items, &ea, json!({"asset_id": id})).await;
        assert_eq!((s.as_u16(), &b["added"]), (200, &json!(true)), "{b}");
    }
    let (_, again) = app.post(&items, &ea, json!({"asset_id": one})).await;
    assert_eq!(again["added"], false);
    let (s, b) = app.post(&items, &eb, json!({"asset_id": two})).await;
    assert_eq!((s.as_u16(), code(&b)), (404, Some("asset_not_found")));
    let (s, _) = app.post(&items, &va, json!({"asset_id": two})).await;
    assert_eq!(s, 403);
    let (s, b) = app
        .post(
            &format!("/api/v1/zones/{}/items", uuid::Uuid::now_v7()),
            &ea,
            json!({"asset_id": two}),
        )
        .await;
    assert_eq!((s.as_u16(), code(&b)), (404, Some("zone_not_found")));

    // The zone shows progress to everyone, and its items under their rights.
    let (_, as_b) = app.get(&format!("/api/v1/zones/{zid}"), &eb).await;
    let progress: Vec<(String, i64, i64)> = as_b["zone"]["invited"]
        .as_array()
        .expect("invited")
        .iter()
        .map(|i| {
            (
                i["station_id"].as_str().unwrap_or_default().to_owned(),
                i["target"].as_i64().unwrap_or(-1),
                i["contributed"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert_eq!(
        progress,
        [(w.id_a().to_owned(), 2, 2), (w.id_b().to_owned(), 1, 0)]
    );
    assert_eq!(as_b["zone"]["items"], 2);
    let seen: Vec<&str> = as_b["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["asset_id"].as_str())
        .collect();
    assert_eq!(seen, [one.as_str()], "B does not see A's private item");
    let (_, as_a) = app.get(&format!("/api/v1/zones/{zid}"), &ea).await;
    assert_eq!(as_a["items"].as_array().map(Vec::len), Some(2));

    // Search narrows to the zone, for each reader under the rights.
    let q = format!("zone={zid}");
    app.search_until(&ea, &q, |b| b["total"] == 2).await;
    app.search_until(&eb, &q, |b| b["total"] == 1).await;
    let (s, b) = app.get("/api/v1/search?zone=nonsense", &eb).await;
    assert_eq!((s.as_u16(), code(&b)), (422, Some("validation_failed")));

    // The hub's statistics rank the zone by its contributions and adoptions in the period.
    let (s, b) = app
        .post(
            &format!("/api/v1/assets/{one}/adoptions"),
            &eb,
            json!({"rendition": "library"}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let (_, st) = app.get("/api/v1/statistics", &hub).await;
    assert_eq!(st["zones"][0]["zone_id"], zid.as_str());
    assert_eq!(
        (
            st["zones"][0]["items"].as_i64(),
            st["zones"][0]["adoptions"].as_i64()
        ),
        (Some(2), Some(1))
    );

    // Taking out: not another station's item; the hub may.
    let (s, _) = app
        .call("DELETE", &format!("{items}/{one}"), Some(&eb), None)
        .await;
    assert_eq!(s, 404);
    let (s, _) = app
        .call("DELETE", &format!("{items}/{private}"), Some(&hub), None)
        .await;
    assert_eq!(s, 204);
    app.search_until(&ea, &q, |b| b["total"] == 1).await;

    // Withdrawn items and closed zones take no contributions.
    let (s, _) = app
        .post(
            &format!("/api/v1/assets/{two}/withdrawal"),
            &ea,
            json!({"reason": "重复"}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, b) = app.post(&items, &ea, json!({"asset_id": two})).await;
    assert_eq!((s.as_u16(), code(&b)), (409, Some("invalid_state")));
    let (s, changed) = app
        .call(
            "PUT",
            &format!("/api/v1/zones/{zid}"),
            Some(&hub),
            Some(
                json!({"title": "进博会专区（已结束）", "starts_on": date_in(-9), "ends_on": date_in(-2)}),
            ),
        )
        .await;
    assert_eq!(s, 200, "{changed}");
    assert_eq!(
        changed["invited"],
        json!([]),
        "a PUT replaces the invitations"
    );
    let (s, b) = app.post(&items, &eb, json!({"asset_id": theirs})).await;
    assert_eq!((s.as_u16(), code(&b)), (409, Some("zone_closed")));
    let (_, list) = app.get("/api/v1/zones", &eb).await;
    assert_eq!(list["items"][0]["title"], "进博会专区（已结束）");
    app.stop().await;
}
