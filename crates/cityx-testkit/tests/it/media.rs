//! Media links: an item plays under a signed prefix without a session, with ranges and
//! validators, from memory once it is ready, and stops playing when its rights say so.

use cityx_testkit::{TestApp, World};
use reqwest::StatusCode;
use serde_json::Value;
use std::time::{Duration, Instant};

/// A file under a media link, without any credential.
async fn fetch(app: &TestApp, url: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = app.http.get(app.url(url));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.expect("fetch")
}

async fn code(res: reqwest::Response) -> (u16, String) {
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap_or_default();
    (
        status,
        body["error"]["code"].as_str().unwrap_or("").to_owned(),
    )
}

#[tokio::test]
async fn items_play_under_signed_links_until_their_rights_say_no() {
    let app = TestApp::spawn_with(|s| s.jobs.enabled = false).await;
    let w = World::seed(&app).await;
    let (ea, eb) = (
        w.user("editor@a").token.clone(),
        w.user("editor@b").token.clone(),
    );
    let id = app.item_with(&ea, &[("title", "媒体链接")]).await;
    assert_eq!(app.finish_pending().await, 1);
    let asset = id.parse().expect("id");
    let playlist = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000\n720p/index.m3u8\n";
    let segment: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    for (path, bytes) in [
        ("hls/master.m3u8", playlist.as_bytes().to_vec()),
        ("hls/720p/seg_00001.ts", segment.clone()),
    ] {
        app.app()
            .pipeline()
            .store_bytes(asset, path, bytes.into())
            .await
            .expect("store");
    }

    let (s, link) = app.get(&format!("/api/v1/assets/{id}/media"), &eb).await;
    assert_eq!(s, StatusCode::OK, "{link}");
    let base = link["base"].as_str().expect("base").to_owned();
    assert!(base.starts_with("/api/v1/media/"), "{link}");
    assert!(link["expires_at"].is_string(), "{link}");

    // No session, no token: the link is the credential.
    let res = fetch(&app, &format!("{base}hls/master.m3u8"), &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["content-type"],
        "application/vnd.apple.mpegurl"
    );
    // Media files go through lean layers (no request id), which keep the security headers.
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert_eq!(res.headers()["x-frame-options"], "DENY");
    assert!(!res.headers().contains_key("x-request-id"));
    let etag = res.headers()["etag"].to_str().expect("etag").to_owned();
    assert_eq!(res.text().await.expect("body"), playlist);
    let posted = app
        .http
        .post(app.url(&format!("{base}hls/master.m3u8")))
        .send()
        .await
        .expect("post");
    assert_eq!(code(posted).await, (405, "method_not_allowed".to_owned()));
    let res = fetch(
        &app,
        &format!("{base}hls/master.m3u8"),
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    let seg = format!("{base}hls/720p/seg_00001.ts");
    let res = fetch(&app, &seg, &[("range", "bytes=1000-1999")]).await;
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(res.headers()["content-range"], "bytes 1000-1999/200000");
    assert!(res.bytes().await.expect("body") == segment[1000..2000]);
    let res = fetch(&app, &seg, &[]).await;
    assert!(res.bytes().await.expect("body") == segment[..]);
    let res = fetch(&app, &seg, &[("range", "bytes=300000-")]).await;
    assert_eq!(res.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    // A ready item's small files are now held in memory.
    let metrics = app.metrics().await;
    let held: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("cityx_media_cache_bytes "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the cache's gauge");
    assert!(held >= 200_000.0, "{held}");
    // …and are counted under one route label.
    assert!(
        metrics.contains(
            r#"http_requests_total{method="GET",route="/api/v1/media/{grant}/{*path}",status="206"}"#
        ),
        "{metrics}"
    );

    // Only what the pipeline derives, and never outside the item.
    for path in ["master", "../../x", "hls/none.ts"] {
        let (s, _) = code(fetch(&app, &format!("{base}{path}"), &[]).await).await;
        assert_eq!(s, 404, "{path}");
    }
    // Altered links are refused before anything is read.
    let grant = base
        .trim_start_matches("/api/v1/media/")
        .trim_end_matches('/');
    let parts: Vec<&str> = grant.split('.').collect();
    // item . station . person . expiry . signature
    assert_eq!(parts.len(), 5, "{grant}");
    assert_eq!(parts[2], w.user("editor@b").id, "{grant}");
    let other_item = app.item_with(&ea, &[("title", "别的素材")]).await;
    let flipped = {
        let mut sig = parts[4].to_owned();
        let last = if sig.ends_with('0') { "1" } else { "0" };
        sig.replace_range(sig.len() - 1.., last);
        sig
    };
    let (p0, p1, p2, p3, p4) = (parts[0], parts[1], parts[2], parts[3], parts[4]);
    let someone_else = &w.user("viewer@b").id;
    for bad in [
        format!("{p0}.{p1}.{p2}.{p3}.{flipped}"),
        format!("{other_item}.{p1}.{p2}.{p3}.{p4}"),
        format!("{p0}.all.{p2}.{p3}.{p4}"),
        format!("{p0}.{p1}.{someone_else}.{p3}.{p4}"),
        format!("{p0}.{p1}.-.{p3}.{p4}"),
        format!("{p0}.{p1}.{p2}.99999999999.{p4}"),
        format!("{p0}.{p1}.{p2}.{p3}.{}", &p4[..8]),
        "garbage".to_owned(),
        format!("{p0}.{p1}.{p3}.{p4}"),
        format!("{p0}.{p1}.{p2}.1.{p4}"),
        // The same grant spelt otherwise than cityx writes it.
        format!("{}.{p1}.{p2}.{p3}.{p4}", p0.to_uppercase()),
        format!("{p0}.{}.{p2}.{p3}.{p4}", p1.to_uppercase()),
        format!("{p0}.{p1}.{p2}.0{p3}.{p4}"),
    ] {
        let got =
            code(fetch(&app, &format!("/api/v1/media/{bad}/hls/master.m3u8"), &[]).await).await;
        assert_eq!(got, (403, "media_link_invalid".to_owned()), "{bad}");
    }

    // A link is a person's: when B's viewer is disabled, their link stops within seconds
    // while B's editor's plays on.
    let vb = w.user("viewer@b");
    let (_, viewer_link) = app
        .get(&format!("/api/v1/assets/{id}/media"), &vb.token)
        .await;
    let viewer_base = viewer_link["base"].as_str().expect("base").to_owned();
    let res = fetch(&app, &format!("{viewer_base}hls/master.m3u8"), &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let (s, _) = app
        .call(
            "PATCH",
            &format!("/api/v1/users/{}", vb.id),
            Some(&app.admin_token),
            Some(serde_json::json!({ "disabled": true })),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = code(fetch(&app, &format!("{viewer_base}hls/master.m3u8"), &[]).await).await;
        if got == (403, "media_link_invalid".to_owned()) {
            break;
        }
        assert_eq!(got.0, 200, "{got:?}");
        assert!(
            Instant::now() < deadline,
            "a disabled viewer's link still plays"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let res = fetch(&app, &format!("{base}hls/master.m3u8"), &[]).await;
    assert_eq!(res.status(), StatusCode::OK);

    // The hub's link and B's: when A makes the item private, B's stops within seconds and
    // the hub's plays on.
    let (_, hub) = app
        .get(&format!("/api/v1/assets/{id}/media"), &app.admin_token)
        .await;
    let hub_base = hub["base"].as_str().expect("base").to_owned();
    app.set_rights(&ea, &id, serde_json::json!({"visibility": "private"}))
        .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = code(fetch(&app, &format!("{base}hls/master.m3u8"), &[]).await).await;
        if got == (404, "asset_not_found".to_owned()) {
            break;
        }
        assert_eq!(got.0, 200, "{got:?}");
        assert!(Instant::now() < deadline, "B's link still plays");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let res = fetch(&app, &format!("{hub_base}hls/master.m3u8"), &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    // B may no longer ask for a link either.
    let (s, _) = app.get(&format!("/api/v1/assets/{id}/media"), &eb).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    app.stop().await;
}
