//! The exchange over HTTP: search across stations with visibility and embargo, adoption and
//! its ledger, signed downloads with ranges, and the refusals that record nothing.

use cityx_testkit::{TestApp, World};
use serde_json::{Value, json};

fn ids(body: &Value) -> Vec<String> {
    let mut v: Vec<String> = body["hits"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|h| h["id"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn sorted(mut v: Vec<&String>) -> Vec<String> {
    v.sort();
    v.into_iter().cloned().collect()
}

/// A third station with an editor; returns the editor's token.
async fn station_c(app: &TestApp) -> String {
    let (s, c) = app
        .post(
            "/api/v1/stations",
            &app.admin_token,
            json!({"name": "丙电视台", "code": "stc", "city": "福州", "province": "福建", "region": "east"}),
        )
        .await;
    assert_eq!(s, 201, "{c}");
    let (s, u) = app
        .post(
            "/api/v1/users",
            &app.admin_token,
            json!({"email": "editor.c@test.cn", "display_name": "c", "role": "editor",
                   "station_id": c["id"], "password": cityx_testkit::PASSWORD}),
        )
        .await;
    assert_eq!(s, 201, "{u}");
    app.login("editor.c@test.cn", cityx_testkit::PASSWORD).await
}

/// Downloads the master behind a signed link whole, saved under the item's title with the
/// master's extension (`saved_as`, percent-encoded), then resumes it from byte 10 and gets
/// the same bytes; returns them.
async fn download_and_resume(client: &reqwest::Client, url: &str, saved_as: &str) -> bytes::Bytes {
    let whole = client.get(url).send().await.expect("download");
    assert_eq!(whole.status(), 200);
    let disposition = whole.headers()["content-disposition"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        disposition.contains(&format!("filename*=UTF-8''{saved_as}")),
        "{disposition}"
    );
    let bytes = whole.bytes().await.expect("bytes");
    let part = client
        .get(url)
        .header("range", "bytes=10-")
        .send()
        .await
        .expect("range");
    assert_eq!(part.status(), 206);
    assert_eq!(part.bytes().await.expect("bytes"), bytes.slice(10..));
    bytes
}

#[tokio::test]
async fn search_and_adoption_respect_rights_and_embargo() {
    let app = TestApp::spawn_with(|s| s.jobs.enabled = false).await;
    let w = World::seed(&app).await;
    let c = station_c(&app).await;
    let (ea, eb) = (
        w.user("editor@a").token.clone(),
        w.user("editor@b").token.clone(),
    );
    let later = (time::OffsetDateTime::now_utc() + time::Duration::days(1))
        .format(&time::format_description::well_known::Rfc3339)
        .expect("time");
    let public = app
        .item_with(
            &ea,
            &[
                ("title", "台风登陆福建 沿海渔船回港"),
                ("summary", "第5号台风在晋江登陆"),
                ("city", "福州"),
            ],
        )
        .await;
    let private = app.item_with(&ea, &[("title", "台风内部素材")]).await;
    let shared = app.item_with(&ea, &[("title", "台风共享素材")]).await;
    let hidden = app
        .item_with(&ea, &[("title", "台风禁发素材"), ("embargo_until", &later)])
        .await;
    let embargoed = app
        .item_with(&ea, &[("title", "台风限时素材"), ("embargo_until", &later)])
        .await;
    assert_eq!(app.finish_pending().await, 5);
    for (id, rights) in [
        (&private, json!({"visibility": "private"})),
        (
            &shared,
            json!({"visibility": "stations", "shared_with": [w.id_b()]}),
        ),
        (
            &hidden,
            json!({"visibility": "exchange", "embargo_until": later, "embargo_hides": true}),
        ),
    ] {
        let (s, b) = app
            .call(
                "PUT",
                &format!("/api/v1/assets/{id}/rights"),
                Some(&ea),
                Some(rights),
            )
            .await;
        assert_eq!(s, 200, "{b}");
    }
    // Another station cannot change the rights.
    let (s, _) = app
        .call(
            "PUT",
            &format!("/api/v1/assets/{public}/rights"),
            Some(&eb),
            Some(json!({"visibility": "private"})),
        )
        .await;
    assert_eq!(s, 404);

    let all = sorted(vec![&public, &private, &shared, &hidden, &embargoed]);
    let for_b = sorted(vec![&public, &shared, &embargoed]);
    let for_c = sorted(vec![&public, &embargoed]);
    // Traditional characters find the simplified titles.
    let q = "q=%E9%A2%B1%E9%A2%A8&per_page=50"; // 颱風
    for (token, want) in [
        (&ea, &all),
        (&app.admin_token, &all),
        (&eb, &for_b),
        (&c, &for_c),
    ] {
        app.search_until(token, q, |b| &ids(b) == want).await;
    }
    let hit = app
        .search_until(&eb, "q=%E7%99%BB%E9%99%86", |b| ids(b) == [public.clone()])
        .await; // 登陆
    assert!(
        hit["hits"][0]["title_html"]
            .as_str()
            .unwrap_or_default()
            .contains("<mark>登陆</mark>"),
        "{hit}"
    );
    assert_eq!(hit["facets"]["station"][0]["label"], "甲电视台");

    // Rebuilt from the database, the index answers the same.
    assert_eq!(app.app().exchange().reindex().await.expect("reindex"), 5);
    app.search_until(&eb, q, |b| ids(b) == for_b).await;

    // Reading items follows the same rule; jobs are the contributor's business.
    let (s, item) = app.get(&format!("/api/v1/assets/{public}"), &eb).await;
    assert_eq!(s, 200);
    assert_eq!(item["jobs"], json!([]));
    let keywords: Vec<&str> = item["keywords"]
        .as_array()
        .expect("keywords")
        .iter()
        .filter_map(|k| k.as_str())
        .collect();
    assert!(
        keywords.contains(&"台风") && keywords.contains(&"登陆"),
        "suggested at ingest: {keywords:?}"
    );
    for id in [&private, &hidden] {
        let (s, _) = app.get(&format!("/api/v1/assets/{id}"), &eb).await;
        assert_eq!(s, 404, "{id}");
    }
    let (s, _) = app.get(&format!("/api/v1/assets/{shared}"), &c).await;
    assert_eq!(s, 404);
    let (s, _) = app
        .get(&format!("/api/v1/assets/{public}/files/proxy.mp4"), &eb)
        .await;
    assert_eq!(s, 200, "others may preview what they may see");

    // Refusals record nothing.
    let adopt = |id: &String, rendition: &str| {
        let path = format!("/api/v1/assets/{id}/adoptions");
        let body = json!({"rendition": rendition, "purpose": "晚间新闻"});
        (path, body)
    };
    for (token, id, status, code) in [
        (&eb, &embargoed, 403, "embargoed"),
        (&eb, &private, 404, "asset_not_found"),
        (&eb, &hidden, 404, "asset_not_found"),
        (&ea, &public, 409, "own_item"),
        (&w.user("viewer@b").token, &public, 403, "forbidden"),
        (&app.admin_token, &public, 403, "forbidden"),
    ] {
        let (path, body) = adopt(id, "master");
        let (s, b) = app.post(&path, token, body).await;
        assert_eq!(
            (s.as_u16(), b["error"]["code"].as_str()),
            (status, Some(code)),
            "{b}"
        );
    }
    let (path, _) = adopt(&public, "");
    let (s, b) = app.post(&path, &eb, json!({"rendition": "4k"})).await;
    assert_eq!(s, 422, "{b}");
    let (_, ledger) = app.get("/api/v1/adoptions", &app.admin_token).await;
    assert_eq!(ledger["items"], json!([]), "nothing recorded");

    // Station B adopts the master and downloads it through the signed link, in two ranges.
    let (path, body) = adopt(&public, "master");
    let (s, adopted) = app.post(&path, &eb, body).await;
    assert_eq!(s, 201, "{adopted}");
    assert_eq!(adopted["adoption"]["contributor_name"], "甲电视台");
    assert_eq!(adopted["adoption"]["station_name"], "乙电视台");
    let url = adopted["download"]["url"].as_str().expect("url").to_owned();
    download_and_resume(&app.http, &app.url(&url), "%E5%8F%B0%E9%A3%8E%E7%99%BB%E9%99%86%E7%A6%8F%E5%BB%BA%20%E6%B2%BF%E6%B5%B7%E6%B8%94%E8%88%B9%E5%9B%9E%E6%B8%AF.mp4").await;
    let tampered = url.replace("/master?", "/proxy?");
    let (s, b) = app.call("GET", &tampered, None, None).await;
    assert_eq!(
        (s.as_u16(), b["error"]["code"].as_str()),
        (403, Some("download_link_invalid"))
    );
    let (s, b) = app.call("GET", &format!("{url}0"), None, None).await;
    assert_eq!(
        (s.as_u16(), b["error"]["code"].as_str()),
        (403, Some("download_link_invalid"))
    );

    // The proxy, and a renewed link without a second adoption.
    let (path, body) = adopt(&public, "proxy");
    let (s, p) = app.post(&path, &eb, body).await;
    assert_eq!(s, 201, "{p}");
    let proxy = app
        .http
        .get(app.url(p["download"]["url"].as_str().expect("url")))
        .send()
        .await
        .expect("proxy");
    assert_eq!(proxy.text().await.expect("text"), format!("proxy:{public}"));
    let (s, renewed) = app
        .post(
            &format!("/api/v1/assets/{public}/download-link"),
            &eb,
            json!({"rendition": "master"}),
        )
        .await;
    assert_eq!(s, 200, "{renewed}");
    let (s, _) = app
        .post(
            &format!("/api/v1/assets/{embargoed}/download-link"),
            &eb,
            json!({"rendition": "master"}),
        )
        .await;
    assert_eq!(s, 403);
    let (s, _) = app
        .post(
            &format!("/api/v1/assets/{shared}/download-link"),
            &eb,
            json!({"rendition": "master"}),
        )
        .await;
    assert_eq!(s, 404, "never adopted");

    // The ledger: A sees the credit, B what it took, C nothing, the hub everything.
    let (_, credited) = app
        .get(
            "/api/v1/adoptions?direction=credited",
            &w.user("station_admin@a").token,
        )
        .await;
    assert_eq!(
        credited["items"].as_array().map(Vec::len),
        Some(2),
        "{credited}"
    );
    assert_eq!(credited["items"][0]["station_name"], "乙电视台");
    assert_eq!(credited["items"][0]["contributor_name"], "甲电视台");
    assert_eq!(credited["items"][1]["purpose"], "晚间新闻");
    let (_, made) = app.get("/api/v1/adoptions?direction=made", &eb).await;
    assert_eq!(made["items"].as_array().map(Vec::len), Some(2));
    let (_, none) = app.get("/api/v1/adoptions", &c).await;
    assert_eq!(none["items"], json!([]));
    let (s, _) = app.get("/api/v1/adoptions?direction=sideways", &eb).await;
    assert_eq!(s, 400);
    let (_, item) = app.get(&format!("/api/v1/assets/{public}"), &ea).await;
    assert_eq!(
        item["adoption_count"], 1,
        "B took two files of it: one station, one adoption"
    );
    let top = app
        .search_until(&app.admin_token, "sort=adoptions", |b| {
            b["hits"][0]["adoptions"] == 1
        })
        .await;
    assert_eq!(top["hits"][0]["id"], public.as_str());

    // A link keeps the rights of its person, not only of the item: it stops while the item is
    // no longer shared with B, and while B's editor is disabled.
    let link = app.url(renewed["url"].as_str().expect("url"));
    let status = |link: String| {
        let http = app.http.clone();
        async move { http.get(link).send().await.expect("get").status().as_u16() }
    };
    assert_eq!(status(link.clone()).await, 200);
    let rights_path = format!("/api/v1/assets/{public}/rights");
    let rights = |visibility: &'static str| {
        app.call(
            "PUT",
            &rights_path,
            Some(&ea),
            Some(json!({ "visibility": visibility })),
        )
    };
    assert_eq!(rights("private").await.0, 200);
    assert_eq!(
        status(link.clone()).await,
        404,
        "not shared with B any more"
    );
    assert_eq!(rights("public").await.0, 200);
    assert_eq!(status(link.clone()).await, 200);
    let editor_b = w.user("editor@b").id.clone();
    let user_path = format!("/api/v1/users/{editor_b}");
    let enabled = |disabled: bool| {
        app.call(
            "PATCH",
            &user_path,
            Some(&app.admin_token),
            Some(json!({ "disabled": disabled })),
        )
    };
    assert_eq!(enabled(true).await.0, 200);
    assert_eq!(status(link.clone()).await, 403, "its person is disabled");
    assert_eq!(enabled(false).await.0, 200);
    assert_eq!(status(link.clone()).await, 200);
    let forged = link.replace(
        &format!("by={editor_b}"),
        &format!("by={}", w.user("editor@a").id),
    );
    assert_eq!(
        status(forged).await,
        403,
        "the person is signed into the link"
    );

    // The contributor deletes the item: it leaves every search, and old links stop working.
    let (s, _) = app
        .call(
            "DELETE",
            &format!("/api/v1/assets/{public}"),
            Some(&ea),
            None,
        )
        .await;
    assert_eq!(s, 200);
    app.search_until(&eb, q, |b| !ids(b).contains(&public))
        .await;
    let (s, b) = app.call("GET", &url, None, None).await;
    assert_eq!(
        (s.as_u16(), b["error"]["code"].as_str()),
        (409, Some("asset_withdrawn"))
    );
    app.stop().await;
}

#[tokio::test]
async fn bad_search_input_gets_codes() {
    let app = TestApp::spawn_with(|s| s.jobs.enabled = false).await;
    let t = app.admin_token.clone();
    for (query, status, code) in [
        ("colour=red", 400, "invalid_query"),
        ("resolution=8k", 422, "validation_failed"),
        ("from=yesterday", 422, "validation_failed"),
        ("sort=random", 422, "validation_failed"),
        ("min_duration=-1", 422, "validation_failed"),
        ("station=nope", 422, "validation_failed"),
        ("per_page=abc", 400, "invalid_query"),
    ] {
        let (s, b) = app.get(&format!("/api/v1/search?{query}"), &t).await;
        assert_eq!(
            (s.as_u16(), b["error"]["code"].as_str()),
            (status, Some(code)),
            "{query}: {b}"
        );
    }
    // Syntax is text: it answers, never fails.
    for q in ["title%3A%22", "AND%20(", "*", "%5C", "-"] {
        let (s, b) = app.get(&format!("/api/v1/search?q={q}"), &t).await;
        assert_eq!(s, 200, "{q}: {b}");
    }
    let (s, b) = app.get("/api/v1/search/suggest?q=%E5%8F%B0", &t).await;
    assert_eq!(s, 200);
    assert_eq!(b["suggestions"], json!([]));
    let (s, _) = app.call("GET", "/api/v1/search", None, None).await;
    assert_eq!(s, 401);
    app.stop().await;
}

/// The titles of one list of `/related`, sorted.
fn titles(body: &Value, list: &str) -> Vec<String> {
    let mut v: Vec<String> = body[list]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|h| h["title"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[tokio::test]
async fn related_items_and_copies_of_the_same_file_follow_the_rights() {
    let app = TestApp::spawn_with(|s| s.jobs.enabled = false).await;
    let w = World::seed(&app).await;
    let (ea, eb) = (
        w.user("editor@a").token.clone(),
        w.user("editor@b").token.clone(),
    );
    let same = b"the very same master bytes".to_vec();
    let item = app
        .item_of_bytes(
            &ea,
            &[("title", "暴雨来袭 城区内涝"), ("keywords", "暴雨,内涝")],
            same.clone(),
        )
        .await;
    let own_copy = app
        .item_of_bytes(&ea, &[("title", "暴雨 内部副本")], same.clone())
        .await;
    let b_copy = app
        .item_of_bytes(&eb, &[("title", "暴雨 乙台转载")], same)
        .await;
    app.item_with(&ea, &[("title", "暴雨过后 排涝抢险")]).await;
    let private = app.item_with(&ea, &[("title", "暴雨 内部素材")]).await;
    app.item_with(&ea, &[("title", "秋茶开采")]).await;
    assert_eq!(app.finish_pending().await, 6);
    for id in [&own_copy, &private] {
        app.set_rights(&ea, id, json!({"visibility": "private"}))
            .await;
    }
    let path = format!("/api/v1/assets/{item}/related");
    // Another station: its own copy, and the visible similar item (once the index has
    // taken the rights changes, about a second at most).
    let seen = app
        .get_until(&path, &eb, |b| {
            titles(b, "similar") == ["暴雨过后 排涝抢险"] && titles(b, "same_file").len() == 1
        })
        .await;
    assert_eq!(titles(&seen, "same_file"), ["暴雨 乙台转载"], "{seen}");
    assert_eq!(titles(&seen, "similar"), ["暴雨过后 排涝抢险"], "{seen}");
    // The contributor also sees its private items.
    let seen = app
        .get_until(&path, &ea, |b| titles(b, "similar").len() == 2)
        .await;
    assert_eq!(
        titles(&seen, "same_file"),
        ["暴雨 乙台转载", "暴雨 内部副本"],
        "{seen}"
    );
    assert_eq!(
        titles(&seen, "similar"),
        ["暴雨 内部素材", "暴雨过后 排涝抢险"],
        "no unrelated item, never the item itself: {seen}"
    );
    assert_eq!(
        seen["same_file"][0]["id"],
        own_copy.as_str(),
        "oldest first: {seen}"
    );
    assert_eq!(seen["same_file"][1]["id"], b_copy.as_str(), "{seen}");
    // An item the caller may not see has no neighbours to show.
    let (s, body) = app
        .get(&format!("/api/v1/assets/{private}/related"), &eb)
        .await;
    assert_eq!(
        (s.as_u16(), body["error"]["code"].as_str()),
        (404, Some("asset_not_found"))
    );
    // The earlier copy found at upload is named only to those who may see it.
    let duplicate_of = |id: String, token: String| {
        let app = &app;
        async move {
            let (s, b) = app.get(&format!("/api/v1/assets/{id}"), &token).await;
            assert_eq!(s, 200, "{b}");
            b["duplicate_of"].as_str().map(str::to_owned)
        }
    };
    let first = Some(item.clone());
    assert_eq!(duplicate_of(b_copy.clone(), eb.clone()).await, first);
    app.set_rights(&ea, &item, json!({"visibility": "private"}))
        .await;
    assert_eq!(duplicate_of(b_copy.clone(), eb.clone()).await, None);
    assert_eq!(duplicate_of(own_copy.clone(), ea.clone()).await, first);
    app.stop().await;
}

/// With `storage.presign_downloads`, a signed download link answers 307 to a presigned URL
/// of the object store, which serves the master (whole and in ranges) and the proxy under
/// its Chinese name; the store refuses a presigned URL that was changed.
#[tokio::test]
async fn presigned_downloads_come_straight_from_the_store() {
    if std::env::var("CITYX_TEST_APP_STORAGE").ok().as_deref() != Some("s3") {
        eprintln!(
            "skipped: presigned downloads (they need the S3 test store: scripts/test runs them in its PostgreSQL + S3 pass)"
        );
        return;
    }
    let app = TestApp::spawn_with(|s| {
        s.jobs.enabled = false;
        s.storage.presign_downloads = true;
    })
    .await;
    let w = World::seed(&app).await;
    let (ea, eb) = (
        w.user("editor@a").token.clone(),
        w.user("editor@b").token.clone(),
    );
    let id = app.item_with(&ea, &[("title", "台风登陆福建")]).await;
    assert_eq!(app.finish_pending().await, 1);
    let (_, item) = app.get(&format!("/api/v1/assets/{id}"), &ea).await;
    let adoptions = format!("/api/v1/assets/{id}/adoptions");
    let adopt = |rendition: &str| {
        app.post(
            &adoptions,
            &eb,
            json!({"rendition": rendition, "purpose": "晚间新闻"}),
        )
    };
    let (s, master) = adopt("master").await;
    assert_eq!(s, 201, "{master}");
    let url = app.url(master["download"]["url"].as_str().expect("url"));

    // This node answers with where the store serves it, not with the bytes.
    let res = app.http.get(&url).send().await.expect("link");
    assert_eq!(res.status(), 307);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let location = res.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let endpoint = std::env::var("CITYX_TEST_S3_ENDPOINT").expect("endpoint");
    assert!(
        location.starts_with(endpoint.trim_end_matches('/'))
            && location.contains("X-Amz-Signature="),
        "{location}"
    );

    // A client that follows it gets the master from the store, resumable.
    let follows = reqwest::Client::new();
    let bytes = download_and_resume(
        &follows,
        &url,
        "%E5%8F%B0%E9%A3%8E%E7%99%BB%E9%99%86%E7%A6%8F%E5%BB%BA.mp4",
    )
    .await;
    let digest = super::uploads::sha256_hex(&bytes);
    assert_eq!(item["sha256"].as_str(), Some(digest.as_str()));

    // The proxy is saved under the item's Chinese title, marked as the browse copy.
    let (s, proxy) = adopt("proxy").await;
    assert_eq!(s, 201, "{proxy}");
    let res = follows
        .get(app.url(proxy["download"]["url"].as_str().expect("url")))
        .send()
        .await
        .expect("proxy");
    assert_eq!(res.status(), 200);
    let disposition = res.headers()["content-disposition"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        disposition.contains(
            "filename*=UTF-8''%E5%8F%B0%E9%A3%8E%E7%99%BB%E9%99%86%E7%A6%8F%E5%BB%BA_browse.mp4"
        ),
        "{disposition}"
    );
    assert_eq!(res.headers()["content-type"], "video/mp4");
    assert_eq!(res.text().await.expect("text"), format!("proxy:{id}"));

    // The store checks the signature: a changed URL is refused there.
    let changed = location.replace("X-Amz-Expires=", "X-Amz-Expires=1");
    let res = follows.get(&changed).send().await.expect("changed");
    assert_eq!(res.status(), 403, "{:?}", res.text().await);
}
