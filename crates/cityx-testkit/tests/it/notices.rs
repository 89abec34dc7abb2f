//! After an item is out, over HTTP: corrections and withdrawals with notices that adopting
//! stations acknowledge, the member feed (long polling, signed cursors, no gaps or repeats
//! under concurrent writers) and the hub's statistics.

use cityx_testkit::{TestApp, World};
use serde_json::{Value, json};
use std::collections::BTreeSet;

fn kinds(feed: &Value) -> Vec<String> {
    feed["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn adopt(app: &TestApp, token: &str, id: &str) {
    let (s, b) = app
        .post(
            &format!("/api/v1/assets/{id}/adoptions"),
            token,
            json!({"rendition": "proxy", "purpose": "午间新闻"}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
}

#[tokio::test]
async fn corrections_and_withdrawals_reach_every_adopter_who_acknowledges() {
    let app = TestApp::spawn_with(|s| s.jobs.enabled = false).await;
    let w = World::seed(&app).await;
    let (ea, eb, sab, vb) = (
        w.user("editor@a").token.clone(),
        w.user("editor@b").token.clone(),
        w.user("station_admin@b").token.clone(),
        w.user("viewer@b").token.clone(),
    );
    let item = app
        .item_with(&ea, &[("title", "暴雨致城区内涝"), ("city", "杭州")])
        .await;
    let other = app.item_with(&ea, &[("title", "秋季运动会开幕")]).await;
    assert_eq!(app.finish_pending().await, 2);
    adopt(&app, &eb, &item).await;
    adopt(&app, &sab, &item).await;
    let link = {
        let (s, b) = app
            .post(
                &format!("/api/v1/assets/{item}/download-link"),
                &eb,
                json!({"rendition": "proxy"}),
            )
            .await;
        assert_eq!(s, 200, "{b}");
        b["url"].as_str().expect("url").to_owned()
    };

    // Bad corrections change nothing.
    let path = format!("/api/v1/assets/{item}/corrections");
    for (token, body, status, code) in [
        (&ea, json!({"title": "新标题"}), 400, "malformed_json"),
        (
            &ea,
            json!({"note": " ", "title": "新标题"}),
            422,
            "validation_failed",
        ),
        (
            &ea,
            json!({"note": "x", "title": "暴雨致城区内涝"}),
            422,
            "validation_failed",
        ),
        (
            &ea,
            json!({"note": "x", "shot_date": "2026-02-30"}),
            422,
            "validation_failed",
        ),
        (
            &eb,
            json!({"note": "x", "title": "乙改的"}),
            404,
            "asset_not_found",
        ),
        (
            &vb,
            json!({"note": "x", "title": "乙改的"}),
            403,
            "forbidden",
        ),
        (
            &app.admin_token,
            json!({"note": "x", "titel": "typo"}),
            400,
            "malformed_json",
        ),
    ] {
        let (s, b) = app.post(&path, token, body.clone()).await;
        assert_eq!(
            (s.as_u16(), b["error"]["code"].as_str()),
            (status, Some(code)),
            "{body}: {b}"
        );
    }
    let (_, notices) = app.get("/api/v1/notices?open=true", &eb).await;
    assert_eq!(notices["items"], json!([]));

    // A corrects: B gets one notice (two of its people adopted), in the UI list and the feed.
    let (s, told) = app
        .post(
            &path,
            &ea,
            json!({"note": "更正：受影响的是机场航班", "title": "暴雨致机场航班延误", "keywords": "暴雨,内涝"}),
        )
        .await;
    assert_eq!(s, 200, "{told}");
    assert_eq!(told["asset"]["title"], "暴雨致机场航班延误");
    assert_eq!(told["asset"]["city"], "杭州", "unnamed fields stay");
    assert_eq!(told["notices"].as_array().map(Vec::len), Some(1));
    assert_eq!(told["notices"][0]["station_id"], w.id_b());
    let (_, open) = app.get("/api/v1/notices?open=true", &eb).await;
    assert_eq!(open["items"][0]["kind"], "correction");
    assert_eq!(open["items"][0]["message"], "更正：受影响的是机场航班");
    let (_, feed_b) = app.get("/api/v1/feed", &eb).await;
    let k = kinds(&feed_b);
    assert!(
        k.ends_with(&["item.corrected".into(), "notice.created".into()]),
        "{k:?}"
    );
    // The contributor's feed shows the adoptions credited to it; B's own item is not there.
    // Two people of B took the same file: one record, one event.
    let (_, feed_a) = app.get("/api/v1/feed", &ea).await;
    assert_eq!(
        kinds(&feed_a)
            .iter()
            .filter(|k| *k == "adoption.created")
            .count(),
        1
    );
    // The search index follows the correction.
    app.search_until(&eb, "q=%E8%88%AA%E7%8F%AD", |b| b["total"] == 1)
        .await; // 航班

    // A withdraws: B is told again, adoption and old links stop, search forgets it.
    let (s, b) = app
        .post(
            &format!("/api/v1/assets/{item}/withdrawal"),
            &ea,
            json!({"reason": " "}),
        )
        .await;
    assert_eq!(
        (s.as_u16(), b["error"]["code"].as_str()),
        (422, Some("validation_failed"))
    );
    let (s, told) = app
        .post(
            &format!("/api/v1/assets/{item}/withdrawal"),
            &ea,
            json!({"reason": "画面涉及未授权肖像"}),
        )
        .await;
    assert_eq!(s, 200, "{told}");
    assert_eq!(told["asset"]["status"], "withdrawn");
    let (s, b) = app
        .post(
            &format!("/api/v1/assets/{item}/withdrawal"),
            &ea,
            json!({"reason": "again"}),
        )
        .await;
    assert_eq!(
        (s.as_u16(), b["error"]["code"].as_str()),
        (409, Some("invalid_state"))
    );
    let (s, b) = app
        .post(&path, &ea, json!({"note": "x", "title": "撤回后再改"}))
        .await;
    assert_eq!(
        (s.as_u16(), b["error"]["code"].as_str()),
        (409, Some("invalid_state"))
    );
    let res = app.send("GET", &link, None, None).await;
    assert_eq!(res.status(), 409, "old links stop");
    let (s, _) = app
        .post(
            &format!("/api/v1/assets/{item}/adoptions"),
            &sab,
            json!({"rendition": "library"}),
        )
        .await;
    assert_eq!(s, 404, "no longer visible to B");
    app.search_until(&eb, "q=%E8%88%AA%E7%8F%AD", |b| b["total"] == 0)
        .await;

    // B acknowledges both; its viewer may not; C's notices are not B's to touch.
    let (_, open) = app.get("/api/v1/notices?open=true", &eb).await;
    let ids: Vec<String> = open["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|n| n["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(ids.len(), 2);
    assert_eq!(open["items"][0]["kind"], "withdrawal");
    let ack = |id: &str| format!("/api/v1/notices/{id}/acknowledgement");
    let (s, _) = app.call("POST", &ack(&ids[0]), Some(&vb), None).await;
    assert_eq!(s, 403);
    let (s, b) = app.call("POST", &ack(&ids[0]), Some(&ea), None).await;
    assert_eq!(
        (s.as_u16(), b["error"]["code"].as_str()),
        (404, Some("notice_not_found"))
    );
    let (s, b) = app.call("POST", &ack(&ids[0]), Some(&eb), None).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["acknowledged_by"], w.user("editor@b").id);
    let (s, again) = app.call("POST", &ack(&ids[0]), Some(&sab), None).await;
    assert_eq!(s, 200);
    assert_eq!(
        again["acknowledged_at"], b["acknowledged_at"],
        "once is enough"
    );

    // The contributor and the hub see who has acknowledged.
    let (_, issued) = app
        .get(
            &format!("/api/v1/notices?direction=issued&asset_id={item}"),
            &ea,
        )
        .await;
    let acked: Vec<bool> = issued["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|n| !n["acknowledged_at"].is_null())
        .collect();
    assert_eq!(acked, [true, false]);
    let (_, hub) = app.get("/api/v1/notices?open=true", &app.admin_token).await;
    assert_eq!(hub["items"].as_array().map(Vec::len), Some(1));
    let (s, _) = app.get("/api/v1/notices?direction=sideways", &eb).await;
    assert_eq!(s, 400);

    // The other item was never adopted: withdrawing it tells nobody.
    let (s, told) = app
        .post(
            &format!("/api/v1/assets/{other}/withdrawal"),
            &ea,
            json!({"reason": "重复上传"}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(told["notices"], json!([]));
    app.stop().await;
}

#[tokio::test]
async fn the_feed_waits_for_news_and_never_skips_or_repeats() {
    let app = TestApp::spawn_with(|s| s.jobs.enabled = false).await;
    let w = World::seed(&app).await;
    let (ea, eb) = (
        w.user("editor@a").token.clone(),
        w.user("editor@b").token.clone(),
    );
    let first = app.item_with(&ea, &[("title", "第一条")]).await;
    let private = app.item_with(&ea, &[("title", "内部素材")]).await;
    app.finish_pending().await;
    app.set_rights(&ea, &private, json!({"visibility": "private"}))
        .await;

    // B sees A's published item, not the private one.
    let (s, feed) = app.get("/api/v1/feed", &eb).await;
    assert_eq!(s, 200, "{feed}");
    let assets: Vec<&str> = feed["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["asset_id"].as_str())
        .collect();
    assert_eq!(assets, [first.as_str()]);
    let cursor = feed["cursor"].as_str().expect("cursor").to_owned();

    // Nothing new: a long poll waits, and answers as soon as news comes.
    let waiting = {
        let (url, eb) = (
            app.url(&format!("/api/v1/feed?wait=20&cursor={cursor}")),
            eb.clone(),
        );
        tokio::spawn(async move {
            let res = reqwest::Client::new()
                .get(url)
                .bearer_auth(eb)
                .send()
                .await
                .expect("feed");
            assert_eq!(res.status(), 200);
            res.json::<Value>().await.expect("json")
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(
        !waiting.is_finished(),
        "the long poll answered with nothing new"
    );
    let second = app.item_with(&ea, &[("title", "第二条")]).await;
    app.finish_pending().await;
    let news = waiting.await.expect("poll");
    assert_eq!(news["events"][0]["asset_id"], second.as_str());
    assert_eq!(news["events"][0]["kind"], "item.published");
    assert_eq!(news["events"][0]["data"]["title"], "第二条");

    // Cursors are signed for their caller.
    let next = news["cursor"].as_str().expect("cursor");
    let (seq, sig) = next.split_once('.').expect("seq.sig");
    let forged = format!("{}.{sig}", seq.parse::<i64>().expect("seq") - 1);
    for (token, c) in [
        (&eb, forged.as_str()),
        (&eb, "1.00"),
        (&eb, "garbage"),
        (&ea, next),
    ] {
        let (s, b) = app.get(&format!("/api/v1/feed?cursor={c}"), token).await;
        assert_eq!(
            (s.as_u16(), b["error"]["code"].as_str()),
            (400, Some("invalid_cursor")),
            "{c}"
        );
    }
    let (s, _) = app.get("/api/v1/feed?wait=99", &eb).await;
    assert_eq!(s, 200, "waits are capped, not refused");
    let (s, b) = app.get("/api/v1/feed?since=1", &eb).await;
    assert_eq!(
        (s.as_u16(), b["error"]["code"].as_str()),
        (400, Some("invalid_query"))
    );

    // Writers correct the item concurrently (each correction one event, and one more per
    // adopting station) while a reader follows in small pages: every event once, in order.
    let hub = app.admin_token.clone();
    let (_, start) = app.get("/api/v1/feed?limit=500", &hub).await;
    let mut cursor = start["cursor"].as_str().expect("cursor").to_owned();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (url, token, first) = (
                app.url(&format!("/api/v1/assets/{first}/corrections")),
                ea.clone(),
                first.clone(),
            );
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                for n in 0..8 {
                    let res = http
                        .post(&url)
                        .bearer_auth(&token)
                        .json(&json!({"title": format!("更正 {w}-{n}"), "note": "并发更正"}))
                        .send()
                        .await
                        .expect("correct");
                    assert_eq!(res.status(), 200, "{first}");
                }
            })
        })
        .collect();
    let mut seen = Vec::new();
    loop {
        let finished = writers.iter().all(|w| w.is_finished());
        let (s, page) = app
            .get(
                &format!("/api/v1/feed?limit=3&wait=1&cursor={cursor}"),
                &hub,
            )
            .await;
        assert_eq!(s, 200, "{page}");
        let events = page["events"].as_array().expect("events");
        for e in events {
            seen.push(e["seq"].as_i64().expect("seq"));
        }
        cursor = page["cursor"].as_str().expect("cursor").to_owned();
        // Done once the writers were done before a read that found nothing more.
        if finished && events.is_empty() {
            break;
        }
    }
    for wr in writers {
        wr.await.expect("writer");
    }
    assert!(seen.len() >= 32, "every correction was told: {seen:?}");
    let unique: BTreeSet<i64> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "repeated: {seen:?}");
    assert!(seen.windows(2).all(|p| p[1] == p[0] + 1), "gaps: {seen:?}");
    app.stop().await;
}

#[tokio::test]
async fn the_hub_reads_statistics_as_json_and_csv() {
    let app = TestApp::spawn_with(|s| s.jobs.enabled = false).await;
    let w = World::seed(&app).await;
    let (ea, eb) = (
        w.user("editor@a").token.clone(),
        w.user("editor@b").token.clone(),
    );
    let one = app.item_with(&ea, &[("title", "西湖音乐节")]).await;
    app.item_with(&ea, &[("title", "地铁新线开通")]).await;
    app.item_with(&eb, &[("title", "港口吞吐量创新高")]).await;
    assert_eq!(app.finish_pending().await, 3);
    // B takes the item twice: one adoption (a station taking an item, counted once).
    adopt(&app, &eb, &one).await;
    adopt(&app, &eb, &one).await;

    let (s, st) = app.get("/api/v1/statistics", &app.admin_token).await;
    assert_eq!(s, 200, "{st}");
    let row = |id: &str| {
        st["stations"]
            .as_array()
            .expect("stations")
            .iter()
            .find(|r| r["station_id"] == id)
            .cloned()
            .expect("listed")
    };
    let (a, b) = (row(w.id_a()), row(w.id_b()));
    assert_eq!(
        (
            a["contributions"].as_i64(),
            a["adoptions_received"].as_i64()
        ),
        (Some(2), Some(1))
    );
    assert_eq!(
        (b["contributions"].as_i64(), b["adoptions_made"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(
        st["stations"][0]["station_id"],
        w.id_a(),
        "most credited first"
    );
    assert_eq!(st["days"].as_array().map(Vec::len), Some(30));
    let today = st["days"][29].clone();
    assert_eq!(
        (today["contributions"].as_i64(), today["adoptions"].as_i64()),
        (Some(3), Some(1))
    );
    assert_eq!(st["top_items"][0]["asset_id"], one.as_str());
    assert_eq!(st["top_items"][0]["adoptions"], 1);
    let provinces = st["provinces"].as_array().expect("provinces");
    assert!(!provinces.is_empty());

    // A period with nothing in it.
    let (s, empty) = app
        .get(
            "/api/v1/statistics?from=2020-01-01&to=2020-01-31",
            &app.admin_token,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(empty["days"].as_array().map(Vec::len), Some(31));
    assert_eq!(empty["top_items"], json!([]));

    // CSV, with the Chinese readable by spreadsheets.
    let res = app
        .send(
            "GET",
            "/api/v1/statistics/export?table=stations",
            Some(&app.admin_token),
            None,
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/csv; charset=utf-8");
    let text = res.text().await.expect("csv");
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("\u{feff}code,name,city,province,contributions,adoptions_made,adoptions_received")
    );
    let first = lines.next().expect("a row");
    assert!(
        first.starts_with("sta,") && first.ends_with(",2,0,1"),
        "{first}"
    );

    for (path, status, code) in [
        (
            "/api/v1/statistics?from=2026-13-01",
            422,
            "validation_failed",
        ),
        (
            "/api/v1/statistics?from=2026-02-01&to=2026-01-01",
            422,
            "validation_failed",
        ),
        (
            "/api/v1/statistics?from=2020-01-01&to=2026-01-01",
            422,
            "validation_failed",
        ),
        ("/api/v1/statistics?period=week", 400, "invalid_query"),
        (
            "/api/v1/statistics/export?table=secrets",
            400,
            "invalid_query",
        ),
    ] {
        let (s, b) = app.get(path, &app.admin_token).await;
        assert_eq!(
            (s.as_u16(), b["error"]["code"].as_str()),
            (status, Some(code)),
            "{path}: {b}"
        );
    }
    let (s, _) = app.get("/api/v1/statistics", &ea).await;
    assert_eq!(s, 403, "stations read their own ledger, not the network's");
    app.stop().await;
}
