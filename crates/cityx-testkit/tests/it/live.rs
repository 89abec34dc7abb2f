//! Live channels over HTTP and RTMP with real peers: ffmpeg publishes to the ingest with the
//! stream key the API showed, viewers of other stations read the HLS playlist and segments
//! (ffprobe reads them as a player would), wrong and rotated keys and a second publisher are
//! refused and audited, garbage on the ingest port closes only that connection, and a
//! broadcast that ended leaves a playlist with its end marked.

use cityx_testkit::{TestApp, World};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

/// `ffmpeg -re` publishing a test picture and tone for `secs` to `url` over RTMP.
fn publish(url: &str, secs: u32) -> Child {
    source(&["-f", "flv", url], secs)
}

/// Waits until `check` holds of the channel as `token` sees it; returns it.
async fn channel_until(
    app: &TestApp,
    id: &str,
    token: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let (s, v) = app.get(&format!("/api/v1/channels/{id}"), token).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        if check(&v) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "the channel never became {what}: {v}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The item `id` once it is ready, failed or rejected (within two minutes); `what` names it
/// in the failure.
async fn settled_item(app: &TestApp, id: &str, token: &str, what: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (_, a) = app.get(&format!("/api/v1/assets/{id}"), token).await;
        if a["status"] == "ready" || a["status"] == "failed" || a["status"] == "rejected" {
            return a;
        }
        assert!(
            Instant::now() < deadline,
            "the {what} never became an item: {a}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn text_of(app: &TestApp, path: &str, token: &str) -> (StatusCode, String) {
    let res = app.send("GET", path, Some(token), None).await;
    let status = res.status();
    (status, res.text().await.unwrap_or_default())
}

/// The playlist once it lists at least `n` segments.
async fn playlist_with(app: &TestApp, id: &str, token: &str, n: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let (s, text) = text_of(app, &format!("/api/v1/channels/{id}/hls/index.m3u8"), token).await;
        if s == StatusCode::OK && text.matches("#EXTINF:").count() >= n {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "no playlist with {n} segments: {s} {text}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The id of a new private channel of station A (another channel's id, for a forged link).
async fn made_private_id(app: &TestApp, admin: &str) -> String {
    let (s, made) = app
        .post("/api/v1/channels", admin, json!({ "name": "另一频道" }))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{made}");
    made["channel"]["id"].as_str().expect("id").to_owned()
}

/// What ffprobe reads (`-show_entries <entries>`, as CSV) of `url`, as a player would,
/// sending `token` when given; and its errors.
async fn probe(url: &str, token: Option<&str>, entries: &str) -> (String, String) {
    let mut cmd = Command::new("ffprobe");
    cmd.args(["-v", "error", "-show_entries", entries, "-of", "csv=p=0"]);
    if let Some(t) = token {
        cmd.arg("-headers")
            .arg(format!("Authorization: Bearer {t}\r\n"));
    }
    let out = cmd.arg(url).output().await.expect("ffprobe");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Publishes with a key that must be refused: ffmpeg ends with an error, soon.
async fn refused(url: &str) {
    let started = Instant::now();
    let out = publish(url, 30).wait_with_output().await.expect("ffmpeg");
    assert!(
        !out.status.success(),
        "a publish with a refused key went on"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "refusing took {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_take_rtmp_and_play_as_hls_with_their_window() {
    let app = TestApp::spawn().await;
    let w = World::seed(&app).await;
    let admin_a = &w.user("station_admin@a").token;
    let editor_a = &w.user("editor@a").token;
    let viewer_b = &w.user("viewer@b").token;

    // Only a station's admins create channels; the key is shown once, with the address.
    let (s, _) = app
        .post("/api/v1/channels", editor_a, json!({ "name": "x" }))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, bad) = app
        .post(
            "/api/v1/channels",
            admin_a,
            json!({ "name": "", "dvr_minutes": 0, "visibility": "nobody" }),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    let (s, made) = app
        .post(
            "/api/v1/channels",
            admin_a,
            json!({ "name": "新闻直播间", "visibility": "exchange", "dvr_minutes": 30, "record": true }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{made}");
    let id = made["channel"]["id"].as_str().expect("id").to_owned();
    let key = made["stream_key"].as_str().expect("key").to_owned();
    assert!(key.starts_with("sk_") && key.len() == 51, "{key}");
    let rtmp = made["ingest"]["rtmp_url"]
        .as_str()
        .expect("rtmp url")
        .to_owned();
    assert!(rtmp.starts_with("rtmp://127.0.0.1:"), "{rtmp}");
    assert_eq!(made["channel"]["state"], "idle");
    let (_, private) = app
        .post("/api/v1/channels", admin_a, json!({ "name": "内部" }))
        .await;
    let private_id = private["channel"]["id"].as_str().expect("id");

    // Another station sees the shared channel, not the private one, and no ingest.
    let (s, list) = app.get("/api/v1/channels", viewer_b).await;
    assert_eq!(s, StatusCode::OK);
    let ids: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|c| c["channel"]["id"].as_str())
        .collect();
    assert_eq!(ids, [id.as_str()], "{list}");
    assert!(list["items"][0]["ingest"].is_null());
    let (s, _) = app
        .get(&format!("/api/v1/channels/{private_id}"), viewer_b)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = text_of(
        &app,
        &format!("/api/v1/channels/{private_id}/hls/index.m3u8"),
        viewer_b,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Garbage on the ingest port closes that connection and nothing else.
    let port: u16 = rtmp
        .trim_start_matches("rtmp://127.0.0.1:")
        .trim_end_matches("/live")
        .parse()
        .expect("port");
    let mut junk = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    junk.write_all(&[0x03; 1537]).await.expect("write");
    junk.write_all(&[0xff; 8192]).await.expect("write");
    let mut sink = vec![0u8; 16 * 1024];
    let closed = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match junk.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "a connection sending garbage stayed open");

    // A wrong key is refused and audited.
    refused(&format!("{rtmp}/sk_{}", "0".repeat(48))).await;
    let (_, audit) = app
        .get("/api/v1/audit?action=publish_refused", &app.admin_token)
        .await;
    assert!(
        audit.to_string().contains("unknown_key"),
        "a refused publish is audited: {audit}"
    );

    // The right key: live within seconds, with the input's health.
    let mut encoder = publish(&format!("{rtmp}/{key}"), 14);
    let live = channel_until(&app, &id, viewer_b, "live with health", |v| {
        v["channel"]["state"] == "live" && v["channel"]["health"]["video_codec"] == "h264"
    })
    .await;
    let health = &live["channel"]["health"];
    assert_eq!(health["audio_codec"], "aac", "{health}");
    assert_eq!(health["width"], 640, "{health}");
    assert_eq!(health["height"], 360, "{health}");

    // A second publisher with the same key is refused while the first is on air.
    refused(&format!("{rtmp}/{key}")).await;

    // Viewers of another station play it: a live playlist with times, segments that are
    // MPEG-TS, and what ffprobe reads from it as a player would.
    let playlist = playlist_with(&app, &id, viewer_b, 2).await;
    assert!(playlist.contains("#EXT-X-PROGRAM-DATE-TIME:"), "{playlist}");
    assert!(!playlist.contains("#EXT-X-ENDLIST"), "{playlist}");
    let first = playlist
        .lines()
        .find(|l| l.ends_with(".ts"))
        .expect("a segment")
        .to_owned();
    let res = app
        .send(
            "GET",
            &format!("/api/v1/channels/{id}/hls/{first}"),
            Some(viewer_b),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "video/mp2t");
    let segment = res.bytes().await.expect("segment");
    assert_eq!(segment.first(), Some(&0x47), "an MPEG-TS segment");
    let (streams, probe_err) = probe(
        &app.url(&format!("/api/v1/channels/{id}/hls/index.m3u8")),
        Some(viewer_b),
        "stream=codec_name",
    )
    .await;
    assert!(
        streams.contains("h264") && streams.contains("aac"),
        "ffprobe read {streams} ({})",
        probe_err
    );
    let (s, _) = text_of(
        &app,
        &format!("/api/v1/channels/{id}/hls/../../secret"),
        viewer_b,
    )
    .await;
    assert!(
        s == StatusCode::NOT_FOUND || s == StatusCode::BAD_REQUEST,
        "{s}"
    );

    // A signed address plays without a session (a player, a CDN): the playlist, and a
    // segment under it; a changed grant is refused.
    let (s, link) = app
        .get(&format!("/api/v1/channels/{id}/media"), viewer_b)
        .await;
    assert_eq!(s, StatusCode::OK, "{link}");
    let base = link["base"].as_str().expect("base").to_owned();
    assert!(base.starts_with("/api/v1/live/"), "{link}");
    let anonymous = reqwest::Client::new();
    let res = anonymous
        .get(app.url(&format!("{base}index.m3u8")))
        .send()
        .await
        .expect("playlist");
    assert_eq!(res.status(), StatusCode::OK);
    let signed = res.text().await.expect("text");
    let segment = signed
        .lines()
        .rfind(|l| l.ends_with(".ts"))
        .expect("a segment")
        .to_owned();
    let res = anonymous
        .get(app.url(&format!("{base}{segment}")))
        .send()
        .await
        .expect("segment");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.bytes().await.expect("bytes").first(), Some(&0x47));
    let (streams, _) = probe(
        &app.url(&format!("{base}index.m3u8")),
        None,
        "stream=codec_name",
    )
    .await;
    assert!(
        streams.contains("h264") && streams.contains("aac"),
        "{streams}"
    );
    // The inspector's thumbnail of a recent keyframe (one every few seconds), a JPEG.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let res = app
            .send(
                "GET",
                &format!("/api/v1/channels/{id}/hls/thumb.jpg"),
                Some(viewer_b),
                None,
            )
            .await;
        if res.status() == StatusCode::OK {
            let jpeg = res.bytes().await.expect("thumbnail");
            assert_eq!(jpeg.get(..2), Some(&[0xff, 0xd8][..]), "a JPEG");
            break;
        }
        assert!(Instant::now() < deadline, "no thumbnail: {}", res.status());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let forged = base.replacen(&id, &made_private_id(&app, admin_a).await, 1);
    let res = anonymous
        .get(app.url(&format!("{forged}index.m3u8")))
        .send()
        .await
        .expect("forged");
    assert_eq!(
        res.status(),
        StatusCode::FORBIDDEN,
        "another channel's id under the grant"
    );
    // The channel is no longer shared with B: B's address stops within seconds.
    let res = app
        .send(
            "PATCH",
            &format!("/api/v1/channels/{id}"),
            Some(admin_a),
            Some(json!({ "visibility": "private" })),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let res = anonymous
            .get(app.url(&format!("{base}index.m3u8")))
            .send()
            .await
            .expect("playlist");
        if res.status() == StatusCode::NOT_FOUND {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the address still plays: {}",
            res.status()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let res = app
        .send(
            "PATCH",
            &format!("/api/v1/channels/{id}"),
            Some(admin_a),
            Some(json!({ "visibility": "exchange" })),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    // The broadcast ends: the channel is off air, its playlist ends and keeps the window.
    let out = encoder.wait().await.expect("ffmpeg");
    assert!(out.success(), "the publisher failed");
    channel_until(&app, &id, viewer_b, "idle", |v| {
        v["channel"]["state"] == "idle"
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let ended = loop {
        let (_, text) = text_of(
            &app,
            &format!("/api/v1/channels/{id}/hls/index.m3u8"),
            viewer_b,
        )
        .await;
        if text.contains("#EXT-X-ENDLIST") {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "the playlist never ended: {text}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let listed: f64 = ended
        .lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .filter_map(|d| d.trim_end_matches(',').parse::<f64>().ok())
        .sum();
    assert!(
        (10.0..=16.0).contains(&listed),
        "the window holds the 14 s broadcast: {listed} s\n{ended}"
    );

    // An editor of the channel's station clips 6 s of the window into an item, which goes
    // through the pipeline; another station's viewer may watch but not clip, and a range
    // outside the window is refused.
    let start = ended
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:"))
        .expect("a date-time");
    let start = time::OffsetDateTime::parse(start, &time::format_description::well_known::Rfc3339)
        .expect("rfc3339");
    let at = |secs: i64| {
        (start + time::Duration::seconds(secs))
            .format(&time::format_description::well_known::Rfc3339)
            .expect("format")
    };
    let clips = format!("/api/v1/channels/{id}/clips");
    let (s, _) = app
        .post(&clips, viewer_b, json!({ "from": at(3), "to": at(9) }))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, outside) = app
        .post(
            &clips,
            editor_a,
            json!({ "from": at(-600), "to": at(-590) }),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{outside}");
    let (s, backwards) = app
        .post(&clips, editor_a, json!({ "from": at(9), "to": at(3) }))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{backwards}");
    let (s, made) = app
        .post(
            &clips,
            editor_a,
            json!({ "from": at(3), "to": at(9), "title": "直播片段" }),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{made}");
    let asset = made["asset"]["id"].as_str().expect("asset").to_owned();
    assert_eq!(made["asset"]["status"], "uploading");
    let item = settled_item(&app, &asset, editor_a, "clip").await;
    assert_eq!(item["status"], "ready", "{item}");
    assert_eq!(item["title"], "直播片段");
    let duration = item["technical"]["duration_s"].as_f64().unwrap_or(0.0);
    // Cut at keyframes (one a second here): at most a keyframe interval longer.
    assert!(
        (5.5..=7.5).contains(&duration),
        "a 6 s clip lasts {duration} s: {item}"
    );
    assert_eq!(item["technical"]["video"]["codec"], "h264", "{item}");
    assert!(
        item["source_url"]
            .as_str()
            .is_some_and(|u| u == format!("live:{id}")),
        "the clip names its channel: {item}"
    );

    // The channel records: the whole broadcast became an item of its station when it ended.
    let (_, made) = app
        .get("/api/v1/audit?action=item_made", &app.admin_token)
        .await;
    let recording = made["items"]
        .as_array()
        .expect("audit")
        .iter()
        .filter_map(|e| e["target_id"].as_str())
        .find(|t| *t != asset)
        .expect("the recording's item is audited")
        .to_owned();
    let recorded = settled_item(&app, &recording, editor_a, "recording").await;
    assert_eq!(recorded["status"], "ready", "{recorded}");
    assert!(
        recorded["title"]
            .as_str()
            .is_some_and(|t| t.starts_with("新闻直播间 录像 ")),
        "{recorded}"
    );
    let whole = recorded["technical"]["duration_s"].as_f64().unwrap_or(0.0);
    assert!(
        (13.0..=15.5).contains(&whole),
        "the 14 s broadcast lasts {whole} s"
    );

    // A rotated key refuses the old one; the new one is shown once.
    let (s, rotated) = app
        .post(&format!("/api/v1/channels/{id}/key"), admin_a, json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{rotated}");
    assert_ne!(rotated["stream_key"], key);
    refused(&format!("{rtmp}/{key}")).await;

    // Rotating the key while someone publishes with it cuts that publisher off.
    let fresh = rotated["stream_key"].as_str().expect("key").to_owned();
    let mut leaked = publish(&format!("{rtmp}/{fresh}"), 60);
    channel_until(&app, &id, viewer_b, "live again", |v| {
        v["channel"]["state"] == "live"
    })
    .await;
    let (s, _) = app
        .post(&format!("/api/v1/channels/{id}/key"), admin_a, json!({}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let cut = tokio::time::timeout(Duration::from_secs(20), leaked.wait()).await;
    assert!(
        cut.is_ok_and(|status| !status.expect("ffmpeg").success()),
        "the publisher with the old key goes on"
    );
    channel_until(&app, &id, viewer_b, "off air", |v| {
        v["channel"]["state"] == "idle"
    })
    .await;

    // Viewers cannot change it; its admin deletes it and it is gone for everyone.
    let res = app
        .send(
            "DELETE",
            &format!("/api/v1/channels/{id}"),
            Some(viewer_b),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = app
        .send(
            "DELETE",
            &format!("/api/v1/channels/{id}"),
            Some(admin_a),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let (s, _) = app.get(&format!("/api/v1/channels/{id}"), viewer_b).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

/// A target's state as the channel's admin sees it, once `check` holds.
async fn target_until(
    app: &TestApp,
    channel: &str,
    target: &str,
    token: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let (s, v) = app
            .get(&format!("/api/v1/channels/{channel}/targets"), token)
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let t = v["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|t| t["id"] == target)
            .cloned()
            .unwrap_or(Value::Null);
        if check(&t) {
            return t;
        }
        assert!(
            Instant::now() < deadline,
            "the target never became {what}: {t}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A channel pushes to its restream targets while it is live, each with its own state: one
/// into another channel's RTMP ingest and one into a third's SRT ingest (both go live and
/// play), one to a port where nobody listens (retrying, with the reason). Partner keys are written, never read back, nor
/// written into the audit log; only the channel's admins manage targets; an address the
/// outbound guard refuses is refused when it is saved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_push_to_their_restream_targets() {
    // The partners here are on this machine: the operator allowed loopback.
    let app = TestApp::spawn_with(|s| s.fetch.allow_cidrs = vec!["127.0.0.0/8".into()]).await;
    let w = World::seed(&app).await;
    let admin_a = &w.user("station_admin@a").token;
    let editor_a = &w.user("editor@a").token;
    let admin_b = &w.user("station_admin@b").token;
    let make = |name: &'static str| {
        let app = &app;
        async move {
            let (s, made) = app
                .post(
                    "/api/v1/channels",
                    admin_a,
                    json!({ "name": name, "visibility": "exchange" }),
                )
                .await;
            assert_eq!(s, StatusCode::CREATED, "{made}");
            made
        }
    };
    let source = make("演播室").await;
    let partner = make("合作平台").await;
    let by_srt = make("省级平台").await;
    let id = source["channel"]["id"].as_str().expect("id").to_owned();
    let partner_id = partner["channel"]["id"].as_str().expect("id").to_owned();
    let rtmp = source["ingest"]["rtmp_url"]
        .as_str()
        .expect("rtmp")
        .to_owned();
    let partner_key = partner["stream_key"].as_str().expect("key").to_owned();
    let targets = format!("/api/v1/channels/{id}/targets");
    let srt_id = by_srt["channel"]["id"].as_str().expect("id").to_owned();
    let srt_url = by_srt["ingest"]["srt_url"]
        .as_str()
        .expect("srt")
        .to_owned();
    let srt_streamid = format!(
        "#!::r={},m=publish",
        by_srt["stream_key"].as_str().expect("key")
    );

    // Who may add targets, and what is refused.
    let body = json!({ "name": "合作平台", "url": rtmp, "key": partner_key });
    let (s, _) = app.post(&targets, editor_a, body.clone()).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = app.post(&targets, admin_b, body.clone()).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    for (bad, field) in [
        (
            json!({ "name": "x", "url": "rtmp://10.1.2.3/live", "key": "k" }),
            "url",
        ),
        (
            json!({ "name": "x", "url": "http://127.0.0.1/live", "key": "k" }),
            "url",
        ),
        (json!({ "name": "x", "url": rtmp }), "key"),
        (
            json!({ "name": "x", "url": format!("{srt_url}/live"), "key": "k" }),
            "url",
        ),
        (
            json!({ "name": "x", "url": "srt://10.1.2.3:9000", "key": "k" }),
            "url",
        ),
    ] {
        let (s, e) = app.post(&targets, admin_a, bad.clone()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {e}");
        assert!(e.to_string().contains(field), "{bad}: {e}");
    }
    let (s, good) = app.post(&targets, admin_a, body).await;
    assert_eq!(s, StatusCode::CREATED, "{good}");
    assert!(!good.to_string().contains(&partner_key), "{good}");
    assert_eq!(good["key_hint"], partner_key[partner_key.len() - 4..]);
    let good_id = good["id"].as_str().expect("id").to_owned();
    // Nobody listens on port 9 here (discard); connecting is refused.
    let (s, dead) = app
        .post(
            &targets,
            admin_a,
            json!({ "name": "失联平台", "url": "rtmp://127.0.0.1:9/live", "key": "dead-key-0123456789" }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{dead}");
    let dead_id = dead["id"].as_str().expect("id").to_owned();
    // The SRT partner takes the stream with its key in the streamid, encrypted with the
    // passphrase its ingest asks for.
    let partner_passphrase = "province-srt-0042";
    let res = app
        .send(
            "PUT",
            &format!("/api/v1/channels/{srt_id}/srt-passphrase"),
            Some(admin_a),
            Some(json!({ "passphrase": partner_passphrase })),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let (s, bad) = app
        .post(
            &targets,
            admin_a,
            json!({ "name": "x", "url": rtmp, "key": "k", "passphrase": partner_passphrase }),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "an RTMP target takes none: {bad}"
    );
    let (s, srt_target) = app
        .post(
            &targets,
            admin_a,
            json!({ "name": "省级平台", "url": srt_url, "key": srt_streamid, "passphrase": partner_passphrase }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{srt_target}");
    assert_eq!(srt_target["has_passphrase"], true, "{srt_target}");
    assert!(!srt_target.to_string().contains(partner_passphrase));
    let srt_target_id = srt_target["id"].as_str().expect("id").to_owned();
    let (s, listed) = app.get(&targets, admin_a).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        listed["items"].as_array().map(Vec::len),
        Some(3),
        "{listed}"
    );
    assert!(!listed.to_string().contains(&partner_key));
    assert!(!listed.to_string().contains(&srt_streamid));
    let (s, _) = app.get(&targets, &w.user("viewer@b").token).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // The source goes live: the partner channel goes live from the push and plays.
    let source_key = source["stream_key"].as_str().expect("key");
    let mut encoder = publish(&format!("{rtmp}/{source_key}"), 16);
    let pushed = target_until(&app, &id, &good_id, admin_a, "live", |t| {
        t["state"] == "live" && t["bytes"].as_u64().unwrap_or(0) > 100_000
    })
    .await;
    assert!(pushed["kbps"].as_u64().unwrap_or(0) > 0, "{pushed}");
    channel_until(&app, &partner_id, admin_a, "live from the push", |v| {
        v["channel"]["state"] == "live" && v["channel"]["health"]["video_codec"] == "h264"
    })
    .await;
    playlist_with(&app, &partner_id, admin_a, 2).await;
    let (streams, _) = probe(
        &app.url(&format!("/api/v1/channels/{partner_id}/hls/index.m3u8")),
        Some(admin_a),
        "stream=codec_name,width",
    )
    .await;
    assert!(
        streams.contains("h264,640") && streams.contains("aac"),
        "the partner's output: {streams}"
    );
    // Over SRT, the push is one transport stream that the third channel takes as its input.
    target_until(&app, &id, &srt_target_id, admin_a, "live over SRT", |t| {
        t["state"] == "live" && t["bytes"].as_u64().unwrap_or(0) > 100_000
    })
    .await;
    channel_until(&app, &srt_id, admin_a, "live from the SRT push", |v| {
        v["channel"]["state"] == "live"
            && v["channel"]["health"]["video_codec"] == "h264"
            && v["channel"]["health"]["audio_codec"] == "aac"
    })
    .await;
    // ffprobe starts a live playlist three segments from its end: at the second one here.
    // The first segment of a remuxed stream may be video alone (ffmpeg's FLV gives AAC's
    // header with its first frame, after the first keyframe in the push); the audio is
    // listed from the next keyframe on, after a discontinuity.
    playlist_with(&app, &srt_id, admin_a, 4).await;
    let (streams, _) = probe(
        &app.url(&format!("/api/v1/channels/{srt_id}/hls/index.m3u8")),
        Some(admin_a),
        "stream=codec_name,width",
    )
    .await;
    assert!(
        streams.contains("h264,640") && streams.contains("aac"),
        "the SRT partner's output: {streams}"
    );
    let failing = target_until(&app, &id, &dead_id, admin_a, "retrying", |t| {
        t["state"] == "retrying" && t["attempts"].as_u64().unwrap_or(0) >= 2
    })
    .await;
    assert!(
        failing["error"]
            .as_str()
            .is_some_and(|e| e.contains("connect")),
        "{failing}"
    );
    assert_eq!(failing["error_code"], "unreachable", "{failing}");
    assert_eq!(failing["bytes"], 0);

    // Switched off while live, the failing one stops being tried.
    let res = app
        .send(
            "PATCH",
            &format!("{targets}/{dead_id}"),
            Some(admin_a),
            Some(json!({ "enabled": false })),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let off: Value = res.json().await.expect("json");
    assert_eq!(off["enabled"], false, "{off}");
    assert_eq!(off["url"], "rtmp://127.0.0.1:9/live", "absent fields stay");
    target_until(&app, &id, &dead_id, admin_a, "idle once off", |t| {
        t["state"] == "idle"
    })
    .await;

    // The broadcast ends: the push ends, the partner channel goes off air.
    assert!(encoder.wait().await.expect("ffmpeg").success());
    target_until(
        &app,
        &id,
        &good_id,
        admin_a,
        "idle after the broadcast",
        |t| t["state"] == "idle" && t["kbps"] == 0,
    )
    .await;
    let ended = channel_until(&app, &partner_id, admin_a, "off air", |v| {
        v["channel"]["state"] == "idle"
    })
    .await;
    target_until(
        &app,
        &id,
        &srt_target_id,
        admin_a,
        "idle after the broadcast",
        |t| t["state"] == "idle",
    )
    .await;
    channel_until(&app, &srt_id, admin_a, "off air after SRT", |v| {
        v["channel"]["state"] == "idle"
    })
    .await;
    assert_eq!(
        ended["channel"]["health"]["alarms"],
        json!([]),
        "the push ended its stream as an encoder does: {ended}"
    );

    // The next broadcast's encoder dies: the channel goes on on its slate, and so does the
    // push, so the partner's channel stays on air with the slate's picture in it.
    let mut encoder = publish(&format!("{rtmp}/{source_key}"), 60);
    let again = channel_until(
        &app,
        &partner_id,
        admin_a,
        "live from the push again",
        |v| {
            v["channel"]["state"] == "live"
                && v["channel"]["health"]["fps"].as_f64().unwrap_or(0.0) > 0.0
        },
    )
    .await;
    let publishes = again["channel"]["health"]["reconnects"]
        .as_u64()
        .expect("reconnects");
    encoder.kill().await.expect("kill");
    channel_until(&app, &id, admin_a, "on its slate", |v| {
        v["channel"]["health"]["slate"] == true
    })
    .await;
    let fed = channel_until(&app, &partner_id, admin_a, "fed the slate", |v| {
        v["channel"]["state"] == "live"
            && v["channel"]["health"]["slate"] == false
            && v["channel"]["health"]["fps"].as_f64().unwrap_or(0.0) > 0.0
            && v["channel"]["health"]["reconnects"].as_u64().unwrap_or(0) > publishes
    })
    .await;
    assert_eq!(fed["channel"]["health"]["width"], 640, "{fed}");

    // The audit log names the targets, never a key.
    let (_, audit) = app
        .get("/api/v1/audit?action=target_created", &app.admin_token)
        .await;
    assert_eq!(audit["items"].as_array().map(Vec::len), Some(3), "{audit}");
    assert!(!audit.to_string().contains(&partner_key), "{audit}");
    assert!(!audit.to_string().contains(&srt_streamid), "{audit}");
    assert!(!audit.to_string().contains(partner_passphrase), "{audit}");
    assert!(
        !audit.to_string().contains("dead-key-0123456789"),
        "{audit}"
    );

    // Another station cannot remove it; its admin does.
    let gone = format!("{targets}/{good_id}");
    let res = app.send("DELETE", &gone, Some(admin_b), None).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = app.send("DELETE", &gone, Some(admin_a), None).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let (_, listed) = app.get(&targets, admin_a).await;
    assert_eq!(
        listed["items"].as_array().map(Vec::len),
        Some(2),
        "{listed}"
    );
}

/// A test CA and a server certificate it signed for 127.0.0.1, made by openssl in `dir`:
/// (the CA's PEM, the server's certificate and key).
fn certificates(dir: &std::path::Path) -> [std::path::PathBuf; 3] {
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl (Debian's openssl)");
        assert!(out.status.success(), "openssl {args:?}: {out:?}");
    };
    let key = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
    let words = |line: String| run(&line.split(' ').collect::<Vec<_>>());
    words(format!(
        "req -x509 {key} -days 2 -subj /CN=cityx-test-CA -keyout ca.key -out ca.pem"
    ));
    words(format!(
        "req {key} -subj /CN=127.0.0.1 -keyout leaf.key -out leaf.csr"
    ));
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext");
    run(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "leaf.ext",
        "-out",
        "leaf.pem",
    ]);
    ["ca.pem", "leaf.pem", "leaf.key"].map(|f| dir.join(f))
}

/// A TLS terminator on loopback in front of `to` (as a load balancer offers RTMPS in front
/// of an RTMP ingest), with `cert` and `key`; returns its port.
async fn tls_front(to: std::net::SocketAddr, cert: &std::path::Path, key: &std::path::Path) -> u16 {
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .expect("cert")
        .collect::<Result<_, _>>()
        .expect("cert");
    let key = PrivateKeyDer::from_pem_file(key).expect("key");
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut back) = tokio::net::TcpStream::connect(to).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut back).await;
            });
        }
    });
    port
}

/// RTMPS: a target behind TLS gets the channel (its certificate checked against the
/// operator's `fetch.ca_file`), while a target whose server speaks no TLS fails with the
/// reason; an encoder publishes over RTMPS through a TLS terminator in front of the ingest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_push_over_rtmps() {
    let certs_dir = tempfile::tempdir().expect("dir");
    let [ca, cert, key] = certificates(certs_dir.path());
    let ca_file = ca.to_str().expect("path").to_owned();
    let app = TestApp::spawn_with(move |s| {
        s.fetch.allow_cidrs = vec!["127.0.0.0/8".into()];
        s.fetch.ca_file = ca_file;
    })
    .await;
    let w = World::seed(&app).await;
    let admin = &w.user("station_admin@a").token;
    let mut made = Vec::new();
    for name in ["演播室", "海外平台"] {
        let (s, v) = app
            .post("/api/v1/channels", admin, json!({ "name": name }))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        made.push(v);
    }
    let id = made[0]["channel"]["id"].as_str().expect("id").to_owned();
    let partner_id = made[1]["channel"]["id"].as_str().expect("id").to_owned();
    let rtmp = made[0]["ingest"]["rtmp_url"]
        .as_str()
        .expect("rtmp")
        .to_owned();
    let ingest: std::net::SocketAddr = rtmp
        .trim_start_matches("rtmp://")
        .split('/')
        .next()
        .expect("host:port")
        .parse()
        .expect("an address");
    let front = tls_front(ingest, &cert, &key).await;
    let targets = format!("/api/v1/channels/{id}/targets");
    let partner_key = made[1]["stream_key"].as_str().expect("key");
    let (s, good) = app
        .post(
            &targets,
            admin,
            json!({ "name": "海外平台", "url": format!("rtmps://127.0.0.1:{front}/live"), "key": partner_key }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{good}");
    // The plain ingest answers TLS's hello with RTMP's handshake: no TLS there.
    let (s, plain) = app
        .post(
            &targets,
            admin,
            json!({ "name": "无 TLS", "url": format!("rtmps://{ingest}/live"), "key": "plain-key-0123456789" }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{plain}");

    // The encoder publishes over RTMPS, through the terminator.
    let key0 = made[0]["stream_key"].as_str().expect("key");
    let mut encoder = publish(&format!("rtmps://127.0.0.1:{front}/live/{key0}"), 14);
    channel_until(&app, &id, admin, "live over RTMPS", |v| {
        v["channel"]["state"] == "live"
    })
    .await;
    let good_id = good["id"].as_str().expect("id");
    target_until(&app, &id, good_id, admin, "live over TLS", |t| {
        t["state"] == "live" && t["bytes"].as_u64().unwrap_or(0) > 100_000
    })
    .await;
    channel_until(&app, &partner_id, admin, "live from the RTMPS push", |v| {
        v["channel"]["state"] == "live" && v["channel"]["health"]["video_codec"] == "h264"
    })
    .await;
    playlist_with(&app, &partner_id, admin, 2).await;
    let failing = target_until(
        &app,
        &id,
        plain["id"].as_str().expect("id"),
        admin,
        "retrying without TLS",
        |t| t["state"] == "retrying",
    )
    .await;
    assert!(
        failing["error"].as_str().is_some_and(|e| e.contains("TLS")),
        "{failing}"
    );
    assert!(encoder.wait().await.expect("ffmpeg").success());
}

/// Serves the files of `dir` (plain names only) over HTTP on loopback, as a CDN would serve
/// an HLS stream; returns its base address.
async fn serve_dir(dir: std::path::PathBuf) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let dir = dir.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let Ok(n) = conn.read(&mut buf).await else {
                    return;
                };
                let request = String::from_utf8_lossy(&buf[..n]).into_owned();
                let name = request
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("/")
                    .trim_start_matches('/')
                    .to_owned();
                let body = if name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
                {
                    tokio::fs::read(dir.join(&name)).await.ok()
                } else {
                    None
                };
                let head = match &body {
                    Some(b) => format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        b.len()
                    ),
                    None => {
                        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            .to_owned()
                    }
                };
                let _ = conn.write_all(head.as_bytes()).await;
                if let Some(b) = body {
                    let _ = conn.write_all(&b).await;
                }
            });
        }
    });
    base
}

/// `ffmpeg -re` making a test picture and tone for `secs` into `output` (its options first),
/// as H.264 and AAC.
fn source(output: &[&str], secs: u32) -> Child {
    source_coded(
        &[
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "25",
            "-c:a",
            "aac",
        ],
        output,
        secs,
    )
}

/// [`source`] with other codecs.
fn source_coded(codecs: &[&str], output: &[&str], secs: u32) -> Child {
    Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-re", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size=640x360:rate=25:duration={secs}"))
        .args(["-f", "lavfi", "-i"])
        .arg(format!("sine=frequency=700:duration={secs}"))
        .args(codecs)
        .args(output)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("ffmpeg runs")
}

/// Scheduled recording: a channel that records only in a daily window (Beijing time), saved
/// while it is on air, makes one item of the part of the broadcast inside it when the window
/// ends, and nothing of the rest; a window that is no time is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_record_in_their_daily_windows() {
    let app = TestApp::spawn().await;
    let w = World::seed(&app).await;
    let admin = &w.user("station_admin@a").token;
    let (s, bad) = app
        .post(
            "/api/v1/channels",
            admin,
            json!({ "name": "定时", "record_windows": ["19:00-19:61"] }),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    assert!(bad.to_string().contains("record_windows"), "{bad}");
    let beijing = |offset: i64| {
        let t = time::OffsetDateTime::now_utc()
            + time::Duration::hours(8)
            + time::Duration::seconds(offset);
        format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second())
    };
    let (s, made) = app
        .post("/api/v1/channels", admin, json!({ "name": "午间新闻" }))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{made}");
    let id = made["channel"]["id"].as_str().expect("id").to_owned();
    let key = made["stream_key"].as_str().expect("key");
    let rtmp = made["ingest"]["rtmp_url"].as_str().expect("rtmp");
    let began = Instant::now();
    let mut encoder = publish(&format!("{rtmp}/{key}"), 32);
    channel_until(&app, &id, admin, "live", |v| {
        v["channel"]["state"] == "live"
    })
    .await;
    // On air, a window that began a minute ago and ends 18 s from now is saved.
    let window = format!("{}-{}", beijing(-60), beijing(18));
    let res = app
        .send(
            "PATCH",
            &format!("/api/v1/channels/{id}"),
            Some(admin),
            Some(json!({ "record_windows": [window] })),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let changed: Value = res.json().await.expect("json");
    assert_eq!(changed["channel"]["record_windows"], json!([window]));
    assert_eq!(changed["channel"]["record"], false);
    let deadline = Instant::now() + Duration::from_secs(120);
    let recording = loop {
        let (_, audit) = app
            .get("/api/v1/audit?action=item_made", &app.admin_token)
            .await;
        if let Some(id) = audit["items"]
            .as_array()
            .and_then(|a| a.first())
            .and_then(|e| e["target_id"].as_str())
        {
            break id.to_owned();
        }
        assert!(Instant::now() < deadline, "no recording: {audit}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(
        began.elapsed() < Duration::from_secs(30),
        "the part became an item when the window ended, before the broadcast did"
    );
    assert!(encoder.wait().await.expect("ffmpeg").success());
    let recorded = settled_item(&app, &recording, admin, "recording").await;
    assert_eq!(recorded["status"], "ready", "{recorded}");
    assert!(
        recorded["title"]
            .as_str()
            .is_some_and(|t| t.starts_with("午间新闻 录像 ")),
        "{recorded}"
    );
    let secs = recorded["technical"]["duration_s"].as_f64().unwrap_or(0.0);
    assert!(
        (4.0..=18.0).contains(&secs),
        "the window's part of the 32 s broadcast lasts {secs} s"
    );
    // The broadcast went on after the window: nothing more was recorded.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, audit) = app
        .get("/api/v1/audit?action=item_made", &app.admin_token)
        .await;
    assert_eq!(audit["items"].as_array().map(Vec::len), Some(1), "{audit}");
}

/// A channel with lower renditions (an ABR ladder): the API takes known heights only; a
/// 640×360 input gets its 240-line rung encoded beside the copy (the 720-line one, taller
/// than the input, is left out), `master.m3u8` lists both, the signed playback address
/// names the master, the rung's playlist has H.264 segments 240 lines tall with the audio,
/// and the broadcast's end closes the rung's playlist too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_offer_lower_renditions() {
    let app = TestApp::spawn().await;
    let w = World::seed(&app).await;
    let admin = &w.user("station_admin@a").token;
    let (s, bad) = app
        .post(
            "/api/v1/channels",
            admin,
            json!({ "name": "多码率", "renditions": [500] }),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    assert!(bad.to_string().contains("renditions"), "{bad}");
    let (s, made) = app
        .post(
            "/api/v1/channels",
            admin,
            json!({ "name": "多码率", "renditions": [240, 720] }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{made}");
    assert_eq!(made["channel"]["renditions"], json!([720, 240]));
    let id = made["channel"]["id"].as_str().expect("id").to_owned();
    let key = made["stream_key"].as_str().expect("key");
    let rtmp = made["ingest"]["rtmp_url"].as_str().expect("rtmp");
    // Before any broadcast the master names the copy alone.
    let (s, master) = text_of(
        &app,
        &format!("/api/v1/channels/{id}/hls/master.m3u8"),
        admin,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{master}");
    assert!(master.trim_end().ends_with("index.m3u8"), "{master}");

    let mut encoder = publish(&format!("{rtmp}/{key}"), 14);
    let rung = format!("/api/v1/channels/{id}/hls/r240.m3u8");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (s, text) = text_of(&app, &rung, admin).await;
        if s == StatusCode::OK && text.matches("#EXTINF:").count() >= 3 {
            assert!(text.contains("#EXT-X-PROGRAM-DATE-TIME"), "{text}");
            break;
        }
        assert!(Instant::now() < deadline, "no rendition: {s} {text}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (_, master) = text_of(
        &app,
        &format!("/api/v1/channels/{id}/hls/master.m3u8"),
        admin,
    )
    .await;
    let variants: Vec<&str> = master.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(variants, ["index.m3u8", "r240.m3u8"], "{master}");
    assert!(
        master.contains("RESOLUTION=640x360") && master.contains("RESOLUTION=426x240"),
        "{master}"
    );
    let (_, link) = app
        .get(&format!("/api/v1/channels/{id}/media"), admin)
        .await;
    assert!(
        link["playlist"]
            .as_str()
            .is_some_and(|p| p.ends_with("/master.m3u8")),
        "{link}"
    );
    let (streams, _) = probe(&app.url(&rung), Some(admin), "stream=codec_name,height").await;
    assert!(
        streams.contains("h264,240") && streams.contains("aac"),
        "the rung: {streams}"
    );
    assert!(encoder.wait().await.expect("ffmpeg").success());
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let (_, text) = text_of(&app, &rung, admin).await;
        if text.contains("#EXT-X-ENDLIST") {
            break;
        }
        assert!(Instant::now() < deadline, "the rung never ended: {text}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// An encoder that changes its picture size mid-stream (a new H.264 header on the same RTMP
/// connection, as encoders do when their operator switches the profile): cityx's own RTMP
/// client publishes two FLV files made by ffmpeg (640×360, then 1280×720) one after the
/// other in real time. The channel goes on: the playlist marks a discontinuity within the
/// one broadcast, and the segments after it are 1280 wide; health reads the size from the
/// stream's own parameter set. A channel limited to 480 lines refuses the 720-line stream
/// although no metadata announced it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_codec_change_mid_stream_starts_a_marked_segment() {
    let app = TestApp::spawn().await;
    let w = World::seed(&app).await;
    let admin = &w.user("station_admin@a").token;
    let (s, made) = app
        .post("/api/v1/channels", admin, json!({ "name": "换档" }))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{made}");
    let id = made["channel"]["id"].as_str().expect("id").to_owned();
    let key = made["stream_key"].as_str().expect("key").to_owned();
    let rtmp = made["ingest"]["rtmp_url"]
        .as_str()
        .expect("rtmp")
        .to_owned();
    let dir = tempfile::tempdir().expect("dir");
    let mut messages = Vec::new();
    let mut second_part = 0;
    for (i, size) in ["640x360", "1280x720"].into_iter().enumerate() {
        second_part = messages.len();
        let path = dir.path().join(format!("{i}.flv"));
        let out = Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-f", "lavfi", "-i"])
            .arg(format!("testsrc2=size={size}:rate=25:duration=5"))
            .args(["-f", "lavfi", "-i", "sine=frequency=600:duration=5"])
            .args(["-c:v", "libx264", "-preset", "ultrafast", "-g", "25"])
            .args(["-c:a", "aac", "-shortest"])
            .arg(&path)
            .output()
            .await
            .expect("ffmpeg");
        assert!(out.status.success(), "{out:?}");
        let mut reader = cityx_live::flv::Reader::default();
        reader.push(&std::fs::read(&path).expect("flv"));
        while let Some((kind, ts, data)) = reader.next_tag().expect("ffmpeg's FLV") {
            messages.push((kind, ts + 5000 * i as u32, data));
        }
    }
    let guard = cityx_fetch::Guard::new(cityx_fetch::Options {
        allow: vec!["127.0.0.0/8".parse().expect("cidr")],
        ..Default::default()
    });
    // Within its limits, first: the second part alone is over them.
    let (s, limited) = app
        .post(
            "/api/v1/channels",
            admin,
            json!({ "name": "限高", "max_height": 480 }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{limited}");
    let mut over = cityx_live::rtmp_client::Client::connect(&guard, &rtmp)
        .await
        .expect("connect");
    over.publish(limited["stream_key"].as_str().expect("key"))
        .await
        .expect("publish");
    for (kind, ts, data) in messages[second_part..].iter().take(50).cloned() {
        if over.send(kind, ts - 5000, data).await.is_err() {
            break;
        }
    }
    let limited_id = limited["channel"]["id"].as_str().expect("id");
    let cut = channel_until(&app, limited_id, admin, "refused over its limit", |v| {
        v["channel"]["state"] == "idle" && v["channel"]["health"]["height"] == 720
    })
    .await;
    assert_eq!(
        cut["channel"]["health"]["error_code"], "unsupported",
        "{cut}"
    );
    let (_, audit) = app
        .get("/api/v1/audit?action=publish_refused", &app.admin_token)
        .await;
    assert!(audit.to_string().contains("over_limits"), "{audit}");

    let mut client = cityx_live::rtmp_client::Client::connect(&guard, &rtmp)
        .await
        .expect("connect");
    client.publish(&key).await.expect("publish");
    let began = Instant::now();
    for (kind, ts, data) in messages {
        let due = Duration::from_millis(u64::from(ts));
        if let Some(wait) = due.checked_sub(began.elapsed()) {
            tokio::time::sleep(wait).await;
        }
        client.send(kind, ts, data).await.expect("send");
    }
    let playlist = playlist_with(&app, &id, admin, 4).await;
    channel_until(&app, &id, admin, "the new size in health", |v| {
        v["channel"]["health"]["width"] == 1280 && v["channel"]["health"]["height"] == 720
    })
    .await;
    client.unpublish().await.expect("unpublish");
    let (_, ended) = text_of(
        &app,
        &format!("/api/v1/channels/{id}/hls/index.m3u8"),
        admin,
    )
    .await;
    let lines: Vec<&str> = ended.lines().collect();
    let at = lines
        .iter()
        .position(|l| *l == "#EXT-X-DISCONTINUITY")
        .unwrap_or_else(|| panic!("a discontinuity where the size changed: {ended}"));
    let sessions: std::collections::HashSet<&str> = lines
        .iter()
        .filter(|l| l.ends_with(".ts"))
        .filter_map(|l| l.split('/').next())
        .collect();
    assert_eq!(sessions.len(), 1, "one broadcast: {ended}");
    let after = lines[at..]
        .iter()
        .find(|l| l.ends_with(".ts"))
        .expect("a segment after it");
    let (streams, _) = probe(
        &app.url(&format!("/api/v1/channels/{id}/hls/{after}")),
        Some(admin),
        "stream=codec_name,width",
    )
    .await;
    assert!(
        streams.contains("h264,1280"),
        "after the change: {streams} ({playlist})"
    );
    let first = lines
        .iter()
        .find(|l| l.ends_with(".ts"))
        .expect("a first segment");
    let (streams, _) = probe(
        &app.url(&format!("/api/v1/channels/{id}/hls/{first}")),
        Some(admin),
        "stream=codec_name,width",
    )
    .await;
    assert!(streams.contains("h264,640"), "before the change: {streams}");
}

/// GStreamer's RTSP server (tests/it/rtsp_server.py) serving a test picture (H.264) and
/// tone (AAC) at `/cam`; its port. It ends when the child is dropped.
async fn rtsp_server() -> (Child, u16) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/rtsp_server.py");
    let mut server = Command::new("/usr/bin/python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("Debian's python3 with GStreamer's RTSP server (scripts/test installs them)");
    let mut out = server.stdout.take().expect("stdout");
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while out.read(&mut byte).await.expect("read") == 1 && byte[0] != b'\n' {
        line.push(byte[0]);
    }
    let port = String::from_utf8_lossy(&line)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("the RTSP server said {line:?}"));
    (server, port)
}

/// A channel pulls an RTSP camera (GStreamer's RTSP server): it goes live with the camera's
/// H.264 and AAC and plays; a path the server does not have leaves the server's refusal in
/// the health report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_pull_rtsp_cameras() {
    let app = TestApp::spawn_with(|s| s.fetch.allow_cidrs = vec!["127.0.0.0/8".into()]).await;
    let w = World::seed(&app).await;
    let admin = &w.user("station_admin@a").token;
    let (_server, port) = rtsp_server().await;
    let make = |name: &'static str, pull: String| {
        let app = &app;
        async move {
            let (s, v) = app
                .post(
                    "/api/v1/channels",
                    admin,
                    json!({ "name": name, "pull_url": pull }),
                )
                .await;
            assert_eq!(s, StatusCode::CREATED, "{v}");
            v["channel"]["id"].as_str().expect("id").to_owned()
        }
    };
    let camera = make("路口摄像头", format!("rtsp://127.0.0.1:{port}/cam")).await;
    let missing = make("无此路径", format!("rtsp://127.0.0.1:{port}/nope")).await;
    let live = channel_until(&app, &camera, admin, "live from the camera", |v| {
        v["channel"]["state"] == "live"
            && v["channel"]["health"]["video_codec"] == "h264"
            && v["channel"]["health"]["audio_codec"] == "aac"
    })
    .await;
    let health = &live["channel"]["health"];
    assert_eq!(
        (&health["width"], &health["remote"]),
        (&json!(640), &json!("rtsp://127.0.0.1")),
        "{live}"
    );
    // ffprobe starts three segments from the end, at the second: the first may be video
    // alone when the camera's audio begins after its first keyframe.
    playlist_with(&app, &camera, admin, 4).await;
    let (streams, _) = probe(
        &app.url(&format!("/api/v1/channels/{camera}/hls/index.m3u8")),
        Some(admin),
        "stream=codec_name,width",
    )
    .await;
    assert!(
        streams.contains("h264,640") && streams.contains("aac"),
        "the camera's output: {streams}"
    );
    let refused = channel_until(&app, &missing, admin, "refused by the server", |v| {
        v["channel"]["health"]["error_code"] == "refused"
    })
    .await;
    assert_eq!(refused["channel"]["state"], "idle", "{refused}");
}

/// Channels pull their signal: another station takes a shared channel into its own (a
/// channel pulling `channel:<id>`), which goes live while the source is on air and goes off
/// air after it; a remote RTMP server (nginx-rtmp) and a remote HLS stream (files over
/// HTTP on loopback) are pulled through the outbound guard; a source that cannot be reached
/// leaves its reason in the health report; addresses the guard refuses, a channel not shared,
/// the channel itself and schemes not pulled are refused when saved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_pull_from_other_channels_and_remote_servers() {
    let app = TestApp::spawn_with(|s| s.fetch.allow_cidrs = vec!["127.0.0.0/8".into()]).await;
    let w = World::seed(&app).await;
    let admin_a = &w.user("station_admin@a").token;
    let admin_b = &w.user("station_admin@b").token;
    let (s, shared) = app
        .post(
            "/api/v1/channels",
            admin_a,
            json!({ "name": "甲台新闻", "visibility": "exchange" }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{shared}");
    let source_id = shared["channel"]["id"].as_str().expect("id").to_owned();
    let (_, private) = app
        .post("/api/v1/channels", admin_a, json!({ "name": "内部" }))
        .await;
    let private_id = private["channel"]["id"].as_str().expect("id");

    // What is refused when saved.
    for (pull, code) in [
        (format!("channel:{private_id}"), "not_found"),
        ("rtmp://10.1.2.3/live/feed".to_owned(), "forbidden_address"),
        ("rtsps://127.0.0.1/stream".to_owned(), "unsupported_scheme"),
        ("rtsp://10.1.2.3/cam".to_owned(), "forbidden_address"),
        ("srt://10.1.2.3:9000".to_owned(), "forbidden_address"),
        ("rtmp://127.0.0.1/onlyapp".to_owned(), "bad_format"),
    ] {
        let (s, e) = app
            .post(
                "/api/v1/channels",
                admin_b,
                json!({ "name": "x", "pull_url": pull }),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{pull}: {e}");
        assert!(
            e.to_string().contains("pull_url") && e.to_string().contains(code),
            "{pull}: {e}"
        );
    }

    // Station B takes A's shared channel into its own.
    let (s, taken) = app
        .post(
            "/api/v1/channels",
            admin_b,
            json!({ "name": "乙台转播", "pull_url": format!("channel:{source_id}") }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{taken}");
    let taken_id = taken["channel"]["id"].as_str().expect("id").to_owned();
    let res = app
        .send(
            "PATCH",
            &format!("/api/v1/channels/{taken_id}"),
            Some(admin_b),
            Some(json!({ "pull_url": format!("channel:{taken_id}") })),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "not itself");
    // While the source is off air, the pull waits and says why.
    channel_until(&app, &taken_id, admin_b, "waiting for its source", |v| {
        v["channel"]["health"]["error_code"] == "off_air"
    })
    .await;
    let (_, viewed) = app
        .get(
            &format!("/api/v1/channels/{taken_id}"),
            &w.user("viewer@a").token,
        )
        .await;
    assert!(viewed["channel"]["pull_url"].is_null(), "{viewed}");

    let rtmp = shared["ingest"]["rtmp_url"].as_str().expect("rtmp");
    let key = shared["stream_key"].as_str().expect("key");
    let mut encoder = publish(&format!("{rtmp}/{key}"), 18);
    let pulled = channel_until(&app, &taken_id, admin_b, "live from its source", |v| {
        v["channel"]["state"] == "live" && v["channel"]["health"]["video_codec"] == "h264"
    })
    .await;
    let health = &pulled["channel"]["health"];
    assert!(
        health["remote"]
            .as_str()
            .is_some_and(|r| r.ends_with(" · 甲台新闻")),
        "the source by its station and name: {health}"
    );
    assert_eq!(health["width"], 640, "{health}");
    assert_eq!(health["audio_codec"], "aac", "{health}");
    playlist_with(&app, &taken_id, admin_b, 2).await;
    assert!(encoder.wait().await.expect("ffmpeg").success());
    channel_until(&app, &taken_id, admin_b, "off air after its source", |v| {
        v["channel"]["state"] == "idle"
    })
    .await;

    // A remote RTMP server (nginx-rtmp, an origin an encoder publishes to), played.
    let origin = cityx_testkit::nginx::NginxRtmp::start(2.0);
    let feed = format!("rtmp://127.0.0.1:{}/live/feed", origin.port);
    let mut encoder = source(&["-f", "flv", &feed], 40);
    let (s, made) = app
        .post(
            "/api/v1/channels",
            admin_b,
            json!({ "name": "RTMP 拉流", "pull_url": feed }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{made}");
    let rtmp_id = made["channel"]["id"].as_str().expect("id").to_owned();
    let live = channel_until(&app, &rtmp_id, admin_b, "live from RTMP", |v| {
        v["channel"]["state"] == "live" && v["channel"]["health"]["video_codec"] == "h264"
    })
    .await;
    assert_eq!(
        live["channel"]["health"]["remote"], "rtmp://127.0.0.1",
        "no path or key in the health report"
    );
    playlist_with(&app, &rtmp_id, admin_b, 2).await;
    // The pull is the channel's backup: an encoder publishing with the channel's key takes
    // over at once, and when it ends the pull takes the channel again.
    let own_key = made["stream_key"].as_str().expect("key");
    let ingest = made["ingest"]["rtmp_url"].as_str().expect("rtmp");
    let mut publisher = publish(&format!("{ingest}/{own_key}"), 6);
    channel_until(
        &app,
        &rtmp_id,
        admin_b,
        "taken over by its publisher",
        |v| v["channel"]["state"] == "live" && v["channel"]["health"]["remote"] == "127.0.0.1",
    )
    .await;
    assert!(publisher.wait().await.expect("ffmpeg").success());
    let back = channel_until(&app, &rtmp_id, admin_b, "back on its pull", |v| {
        v["channel"]["state"] == "live" && v["channel"]["health"]["remote"] == "rtmp://127.0.0.1"
    })
    .await;
    assert_eq!(
        back["channel"]["health"]["reconnects"], 1,
        "the pull's second run (failed attempts are not counted): {back}"
    );
    let _ = encoder.kill().await;
    drop(origin);

    // A remote HLS stream, followed.
    let dir = tempfile::tempdir().expect("dir");
    let mut writer = source(
        &[
            "-f",
            "hls",
            "-hls_time",
            "1",
            "-hls_list_size",
            "6",
            "-hls_flags",
            "delete_segments",
            "-hls_segment_filename",
            &dir.path().join("s_%d.ts").to_string_lossy(),
            &dir.path().join("index.m3u8").to_string_lossy(),
        ],
        16,
    );
    let base = serve_dir(dir.path().to_path_buf()).await;
    let (s, made) = app
        .post(
            "/api/v1/channels",
            admin_b,
            json!({ "name": "HLS 拉流", "pull_url": format!("{base}/index.m3u8") }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{made}");
    let hls_id = made["channel"]["id"].as_str().expect("id").to_owned();
    let live = channel_until(&app, &hls_id, admin_b, "live from HLS", |v| {
        v["channel"]["state"] == "live" && v["channel"]["health"]["video_codec"] == "h264"
    })
    .await;
    assert_eq!(live["channel"]["health"]["width"], 640, "{live}");
    let playlist = playlist_with(&app, &hls_id, admin_b, 2).await;
    assert!(playlist.contains("#EXT-X-PROGRAM-DATE-TIME:"), "{playlist}");
    let _ = writer.wait().await;

    // A remote SRT listener (ffmpeg waiting for a caller), called.
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free UDP port")
        .port();
    let mut listener = source(
        &[
            "-f",
            "mpegts",
            &format!("srt://127.0.0.1:{port}?mode=listener"),
        ],
        20,
    );
    let (s, made) = app
        .post(
            "/api/v1/channels",
            admin_b,
            json!({ "name": "SRT 拉流", "pull_url": format!("srt://127.0.0.1:{port}") }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{made}");
    let srt_id = made["channel"]["id"].as_str().expect("id").to_owned();
    let live = channel_until(&app, &srt_id, admin_b, "live from SRT", |v| {
        v["channel"]["state"] == "live" && v["channel"]["health"]["video_codec"] == "h264"
    })
    .await;
    assert_eq!(
        live["channel"]["health"]["remote"], "srt://127.0.0.1",
        "{live}"
    );
    assert_eq!(live["channel"]["health"]["width"], 640, "{live}");
    playlist_with(&app, &srt_id, admin_b, 2).await;
    let _ = listener.kill().await;

    // A source nobody serves: the reason is in the health report.
    let (s, made) = app
        .post(
            "/api/v1/channels",
            admin_b,
            json!({ "name": "失联", "pull_url": "rtmp://127.0.0.1:9/live/none" }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{made}");
    let dead = made["channel"]["id"].as_str().expect("id").to_owned();
    let failing = channel_until(&app, &dead, admin_b, "failing with a reason", |v| {
        v["channel"]["health"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("connect"))
    })
    .await;
    assert_eq!(failing["channel"]["state"], "idle", "{failing}");
    assert_eq!(
        failing["channel"]["health"]["error_code"], "unreachable",
        "{failing}"
    );
}

/// Twenty channels at once: one encoder (a single encode, pushed twenty times by ffmpeg's
/// tee muxer) publishes to all of them, and every one is live with a playlist that grows.
/// (The sessions gauge is the process's, shared with the tests running beside this one, so
/// the API's states are what is counted.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_channels_run_at_once() {
    const CHANNELS: usize = 20;
    let app = TestApp::spawn().await;
    let w = World::seed(&app).await;
    let admin = &w.user("station_admin@a").token;
    let mut made = Vec::new();
    for i in 0..CHANNELS {
        let (s, c) = app
            .post(
                "/api/v1/channels",
                admin,
                json!({ "name": format!("频道 {i}"), "dvr_minutes": 5 }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{c}");
        made.push(c);
    }
    let rtmp = made[0]["ingest"]["rtmp_url"]
        .as_str()
        .expect("rtmp")
        .to_owned();
    let outputs: Vec<String> = made
        .iter()
        .map(|c| {
            format!(
                "[f=flv:onfail=ignore]{rtmp}/{}",
                c["stream_key"].as_str().expect("key")
            )
        })
        .collect();
    let mut encoder = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-re", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=320x180:rate=25:duration=20")
        .args(["-f", "lavfi", "-i", "sine=frequency=600:duration=20"])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-g", "25"])
        .args([
            "-c:a",
            "aac",
            "-map",
            "0:v",
            "-map",
            "1:a",
            "-flags",
            "+global_header",
        ])
        .args(["-f", "tee"])
        .arg(outputs.join("|"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("ffmpeg");
    for c in &made {
        let id = c["channel"]["id"].as_str().expect("id");
        channel_until(&app, id, admin, "live", |v| {
            v["channel"]["state"] == "live" && v["channel"]["health"]["video_codec"] == "h264"
        })
        .await;
    }
    for c in &made {
        let id = c["channel"]["id"].as_str().expect("id");
        playlist_with(&app, id, admin, 3).await;
    }
    let (_, list) = app.get("/api/v1/channels", admin).await;
    let live = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|c| c["channel"]["state"] == "live")
        .count();
    assert_eq!(live, CHANNELS, "{list}");
    let _ = encoder.kill().await;
}

/// The `channel.alarm` events the station's feed has told so far, as `(alarm, raised)`.
async fn alarms_told(app: &TestApp, token: &str) -> Vec<(String, bool)> {
    let (s, feed) = app.get("/api/v1/feed?limit=500", token).await;
    assert_eq!(s, StatusCode::OK, "{feed}");
    feed["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"] == "channel.alarm")
        .map(|e| {
            (
                e["data"]["alarm"].as_str().unwrap_or_default().to_owned(),
                e["data"]["raised"].as_bool().unwrap_or_default(),
            )
        })
        .collect()
}

/// Alarms: black picture and silence are raised while they last (in the channel's health
/// report and as `channel.alarm` events of the station's feed, which its webhooks get too).
/// An encoder that dies raises no signal and clears the others, and the channel goes on on
/// its slate: still live, its playlist not ended but growing with the slate's segments (a
/// card at the input's size with AAC silence, as ffprobe reads it). The next publish takes
/// the channel back and clears no signal; one that ends as it should ends the broadcast and
/// raises nothing; a slate that waits longer than `live.slate_secs` ends it too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_inputs_raise_alarms_and_go_on_a_slate_until_they_return() {
    let app = TestApp::spawn_with(|s| s.live.slate_secs = 25).await;
    let w = World::seed(&app).await;
    let admin = &w.user("station_admin@a").token;
    let other = &w.user("station_admin@b").token;
    let (_, made) = app
        .post("/api/v1/channels", admin, json!({ "name": "告警测试" }))
        .await;
    let id = made["channel"]["id"].as_str().expect("id").to_owned();
    let url = format!(
        "{}/{}",
        made["ingest"]["rtmp_url"].as_str().expect("rtmp"),
        made["stream_key"].as_str().expect("key")
    );
    let mut dark = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-re", "-f", "lavfi", "-i"])
        .arg("color=c=black:size=320x180:rate=25:duration=60")
        .args(["-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo"])
        .args([
            "-t",
            "60",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "25",
        ])
        .args(["-c:a", "aac", "-f", "flv"])
        .arg(&url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("ffmpeg");
    let alarmed = channel_until(&app, &id, admin, "black and silent", |v| {
        let a = v["channel"]["health"]["alarms"].to_string();
        a.contains("black") && a.contains("silence")
    })
    .await;
    assert_eq!(
        alarmed["channel"]["health"]["audio_db"], -120.0,
        "{alarmed}"
    );
    assert_eq!(alarmed["channel"]["health"]["slate"], false, "{alarmed}");
    let told = alarms_told(&app, admin).await;
    assert!(told.contains(&("black".into(), true)), "{told:?}");
    assert!(told.contains(&("silence".into(), true)), "{told:?}");
    assert!(
        alarms_told(&app, other).await.is_empty(),
        "another station is not told"
    );

    // The encoder dies: no signal, the others end with the input, and the slate goes on.
    dark.kill().await.expect("kill");
    let slated = channel_until(&app, &id, admin, "on its slate", |v| {
        v["channel"]["health"]["slate"] == true
    })
    .await;
    assert_eq!(slated["channel"]["state"], "live", "{slated}");
    assert_eq!(
        slated["channel"]["health"]["alarms"],
        json!(["no_signal"]),
        "{slated}"
    );
    assert_eq!(
        slated["channel"]["health"]["error_code"], "dropped",
        "why the input dropped stays in the slate's report: {slated}"
    );
    // The page shows no input figures while the slate covers the input (they would be the
    // card's), and names why the input dropped.
    let mut b = crate::web::Browser::new(&app);
    b.sign_in(&w.user("station_admin@a").email, cityx_testkit::PASSWORD)
        .await;
    let page = b.get(&format!("/live/{id}")).await;
    assert_eq!(page.status, 200);
    for figure in ["size", "fps", "kbps", "video"] {
        assert!(
            page.body
                .contains(&format!("data-health=\"{figure}\">—</dd>")),
            "{figure} on the slate: {}",
            page.body
        );
    }
    assert!(
        page.body.contains(">推流端异常断开</dd>"),
        "why, in Chinese alone: {}",
        page.body
    );
    let told = alarms_told(&app, admin).await;
    for expected in [("no_signal", true), ("black", false), ("silence", false)] {
        assert!(
            told.contains(&(expected.0.into(), expected.1)),
            "{expected:?}: {told:?}"
        );
    }
    let deadline = Instant::now() + Duration::from_secs(40);
    let playlist = loop {
        let (_, text) = text_of(
            &app,
            &format!("/api/v1/channels/{id}/hls/index.m3u8"),
            admin,
        )
        .await;
        if text.lines().filter(|l| l.starts_with("slate-")).count() >= 2 {
            break text;
        }
        assert!(Instant::now() < deadline, "no slate segments: {text}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(!playlist.contains("#EXT-X-ENDLIST"), "{playlist}");
    assert!(playlist.contains("#EXT-X-DISCONTINUITY"), "{playlist}");
    let card = playlist
        .lines()
        .rfind(|l| l.starts_with("slate-"))
        .expect("a slate segment");
    let (streams, probe_err) = probe(
        &app.url(&format!("/api/v1/channels/{id}/hls/{card}")),
        Some(admin),
        "stream=codec_name,width,height",
    )
    .await;
    assert!(
        streams.contains("h264,320,180") && streams.contains("aac"),
        "the slate: {streams} ({})",
        probe_err
    );

    // A broadcast with picture and sound takes the channel back from the slate and clears
    // no signal, and ends cleanly: off air, nothing raised.
    let mut bright = publish(&url, 6);
    let on = channel_until(&app, &id, admin, "back on its input", |v| {
        v["channel"]["health"]["slate"] == false
            && v["channel"]["health"]["audio_db"].as_f64().is_some()
    })
    .await;
    assert_eq!(on["channel"]["state"], "live", "{on}");
    assert_eq!(on["channel"]["health"]["alarms"], json!([]), "{on}");
    let level = on["channel"]["health"]["audio_db"]
        .as_f64()
        .unwrap_or(-120.0);
    assert!(level > -40.0, "a tone is loud: {level} dBFS");
    assert!(bright.wait().await.expect("ffmpeg").success());
    let ended = channel_until(&app, &id, admin, "off air", |v| {
        v["channel"]["state"] == "idle"
    })
    .await;
    assert_eq!(ended["channel"]["health"]["alarms"], json!([]), "{ended}");
    let told = alarms_told(&app, admin).await;
    assert!(told.contains(&("no_signal".into(), false)), "{told:?}");
    assert_eq!(
        told.iter().filter(|(a, r)| a == "no_signal" && *r).count(),
        1,
        "a clean end raises nothing: {told:?}"
    );
    let (_, text) = text_of(
        &app,
        &format!("/api/v1/channels/{id}/hls/index.m3u8"),
        admin,
    )
    .await;
    assert!(text.contains("#EXT-X-ENDLIST"), "{text}");

    // Dropped again, and not back within the slate's time: the broadcast ends, still
    // without a signal.
    let mut again = publish(&url, 60);
    channel_until(&app, &id, admin, "live again", |v| {
        v["channel"]["state"] == "live"
            && v["channel"]["health"]["fps"].as_f64().unwrap_or(0.0) > 0.0
    })
    .await;
    again.kill().await.expect("kill");
    channel_until(&app, &id, admin, "on its slate again", |v| {
        v["channel"]["health"]["slate"] == true
    })
    .await;
    let over = channel_until(&app, &id, admin, "off air after its slate", |v| {
        v["channel"]["state"] == "idle"
    })
    .await;
    assert_eq!(
        over["channel"]["health"]["alarms"],
        json!(["no_signal"]),
        "{over}"
    );
    assert_eq!(over["channel"]["health"]["slate"], false, "{over}");
    let (_, text) = text_of(
        &app,
        &format!("/api/v1/channels/{id}/hls/index.m3u8"),
        admin,
    )
    .await;
    assert!(text.contains("#EXT-X-ENDLIST"), "{text}");
}

/// SRT: ffmpeg publishes MPEG-TS with the stream key in the streamid (the access-control
/// convention), and so does Debian's srt-live-transmit fed by ffmpeg; the channel goes live
/// and plays; a wrong key is refused in the handshake, quickly, and audited; a caller that
/// dies (its connection times out rather than being shut down) puts the channel on its slate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_take_srt_with_the_key_in_the_streamid() {
    let app = TestApp::spawn().await;
    let w = World::seed(&app).await;
    let admin = &w.user("station_admin@a").token;
    let (s, made) = app
        .post("/api/v1/channels", admin, json!({ "name": "SRT 演播室" }))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{made}");
    let id = made["channel"]["id"].as_str().expect("id").to_owned();
    let key = made["stream_key"].as_str().expect("key").to_owned();
    let srt = made["ingest"]["srt_url"]
        .as_str()
        .expect("srt url")
        .to_owned();
    assert!(srt.starts_with("srt://127.0.0.1:"), "{srt}");
    let at = |key: &str| format!("{srt}?streamid=#!::r={key},m=publish");

    // A wrong key: refused in the handshake, within seconds, and audited.
    let started = Instant::now();
    let out = source(
        &["-f", "mpegts", &at(&format!("sk_{}", "0".repeat(48)))],
        20,
    )
    .wait_with_output()
    .await
    .expect("ffmpeg");
    assert!(!out.status.success(), "a wrong key was taken");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "refusing took {:?}",
        started.elapsed()
    );
    let (_, audit) = app
        .get("/api/v1/audit?action=publish_refused", &app.admin_token)
        .await;
    assert!(audit.to_string().contains("\"srt\""), "{audit}");

    // Who may publish: an allow-list without this address refuses it, over SRT and RTMP,
    // and says why in the audit log.
    let path = format!("/api/v1/channels/{id}");
    let allow = |list: Value| {
        let body = json!({ "publish_cidrs": list });
        let (app, path) = (&app, &path);
        async move {
            let res = app.send("PATCH", path, Some(admin), Some(body)).await;
            assert_eq!(res.status(), StatusCode::OK);
            res.json::<Value>().await.expect("json")
        }
    };
    let listed = allow(json!(["203.0.113.0/24"])).await;
    assert_eq!(
        listed["channel"]["publish_cidrs"],
        json!(["203.0.113.0/24"])
    );
    let out = source(&["-f", "mpegts", &at(&key)], 20)
        .wait_with_output()
        .await
        .expect("ffmpeg");
    assert!(
        !out.status.success(),
        "a caller off the allow-list was taken"
    );
    let rtmp = made["ingest"]["rtmp_url"].as_str().expect("rtmp");
    refused(&format!("{rtmp}/{key}")).await;
    let (_, audit) = app
        .get("/api/v1/audit?action=publish_refused", &app.admin_token)
        .await;
    assert_eq!(
        audit.to_string().matches("address_not_allowed").count(),
        2,
        "{audit}"
    );
    let res = app
        .send(
            "PATCH",
            &path,
            Some(admin),
            Some(json!({ "publish_cidrs": ["10.0.0.0/33"] })),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    allow(json!(["127.0.0.0/8", "::1"])).await;

    // ffmpeg as the caller.
    let mut encoder = source(&["-f", "mpegts", &at(&key)], 10);
    let live = channel_until(&app, &id, admin, "live over SRT", |v| {
        v["channel"]["state"] == "live" && v["channel"]["health"]["video_codec"] == "h264"
    })
    .await;
    assert_eq!(live["channel"]["health"]["remote"], "127.0.0.1", "{live}");
    assert_eq!(live["channel"]["health"]["width"], 640, "{live}");
    playlist_with(&app, &id, admin, 2).await;
    assert!(encoder.wait().await.expect("ffmpeg").success());
    channel_until(&app, &id, admin, "off air", |v| {
        v["channel"]["state"] == "idle"
    })
    .await;

    // HEVC and MPEG audio, as broadcast encoders send them: converted to H.264 and AAC,
    // and the health says what came in.
    let mut encoder = source_coded(
        &[
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-g",
            "25",
            "-c:a",
            "mp2",
        ],
        &["-f", "mpegts", &at(&key)],
        12,
    );
    let converted = channel_until(&app, &id, admin, "live from HEVC", |v| {
        v["channel"]["state"] == "live"
            && v["channel"]["health"]["fps"].as_f64().unwrap_or(0.0) > 0.0
    })
    .await;
    let health = &converted["channel"]["health"];
    assert_eq!(
        (
            &health["video_codec"],
            &health["audio_codec"],
            &health["converted"]
        ),
        (&json!("hevc"), &json!("mp2"), &json!(true)),
        "{converted}"
    );
    playlist_with(&app, &id, admin, 4).await;
    let (streams, _) = probe(
        &app.url(&format!("/api/v1/channels/{id}/hls/index.m3u8")),
        Some(admin),
        "stream=codec_name,width",
    )
    .await;
    assert!(
        streams.contains("h264,640") && streams.contains("aac"),
        "the converted output: {streams}"
    );
    assert!(encoder.wait().await.expect("ffmpeg").success());
    channel_until(&app, &id, admin, "off air after HEVC", |v| {
        v["channel"]["state"] == "idle"
    })
    .await;

    // srt-live-transmit as the caller, fed MPEG-TS by ffmpeg on a pipe.
    let mut feed = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-re", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=640x360:rate=25:duration=10")
        .args(["-f", "lavfi", "-i", "sine=frequency=300:duration=10"])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "25",
            "-c:a",
            "aac",
        ])
        .args(["-f", "mpegts", "pipe:1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("ffmpeg");
    let pipe: Stdio = feed
        .stdout
        .take()
        .expect("stdout")
        .try_into()
        .expect("a pipe");
    let mut transmit = Command::new("srt-live-transmit")
        .args(["-q", "file://con"])
        .arg(at(&key))
        .stdin(pipe)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("srt-live-transmit (Debian's srt-tools)");
    channel_until(&app, &id, admin, "live from srt-live-transmit", |v| {
        v["channel"]["state"] == "live" && v["channel"]["health"]["audio_codec"] == "aac"
    })
    .await;
    let playlist = playlist_with(&app, &id, admin, 2).await;
    assert!(
        playlist.contains("#EXT-X-DISCONTINUITY"),
        "a second broadcast: {playlist}"
    );
    // The caller dies without ending its stream: SRT's connection times out, which is no
    // signal, and the channel goes on on its slate.
    transmit.kill().await.expect("kill");
    let slated = channel_until(&app, &id, admin, "on its slate", |v| {
        v["channel"]["health"]["slate"] == true
    })
    .await;
    assert_eq!(slated["channel"]["state"], "live", "{slated}");
    assert_eq!(
        slated["channel"]["health"]["alarms"],
        json!(["no_signal"]),
        "{slated}"
    );
    assert_eq!(
        slated["channel"]["health"]["error_code"], "dropped",
        "{slated}"
    );
    let _ = feed.kill().await;

    // With a passphrase, a caller that does not encrypt is refused, and one that encrypts
    // with it takes the channel back from its slate.
    let passphrase = "cityx-srt-0123";
    let res = app
        .send(
            "PUT",
            &format!("{path}/srt-passphrase"),
            Some(admin),
            Some(json!({ "passphrase": "short" })),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = app
        .send(
            "PUT",
            &format!("{path}/srt-passphrase"),
            Some(admin),
            Some(json!({ "passphrase": passphrase })),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let set: Value = res.json().await.expect("json");
    assert_eq!(set["channel"]["srt_passphrase_hint"], "0123", "{set}");
    assert!(!set.to_string().contains(passphrase), "{set}");
    let out = source(&["-f", "mpegts", &at(&key)], 20)
        .wait_with_output()
        .await
        .expect("ffmpeg");
    assert!(!out.status.success(), "a caller in the clear was taken");
    let (_, audit) = app
        .get("/api/v1/audit?action=publish_refused", &app.admin_token)
        .await;
    assert!(audit.to_string().contains("\"passphrase\""), "{audit}");
    let wrong =
        format!("{srt}?passphrase=not-the-one-0000&pbkeylen=16&streamid=#!::r={key},m=publish");
    let out = source(&["-f", "mpegts", &wrong], 8)
        .wait_with_output()
        .await
        .expect("ffmpeg");
    assert!(
        !out.status.success(),
        "a caller with another passphrase was taken"
    );
    let sealed =
        format!("{srt}?passphrase={passphrase}&pbkeylen=16&streamid=#!::r={key},m=publish");
    let mut encoder = source(&["-f", "mpegts", &sealed], 12);
    let back = channel_until(&app, &id, admin, "back on an encrypted caller", |v| {
        v["channel"]["health"]["slate"] == false
            && v["channel"]["health"]["fps"].as_f64().unwrap_or(0.0) > 0.0
    })
    .await;
    assert_eq!(back["channel"]["state"], "live", "{back}");
    assert!(encoder.wait().await.expect("ffmpeg").success());
}
