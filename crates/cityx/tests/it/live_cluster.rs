//! Live on two API nodes (PostgreSQL and S3 shared) behind a TCP load balancer, as
//! docs/deployment.md describes: an encoder publishes through the balancer to the first node,
//! which is killed with `kill -9`; the encoder reconnects (as encoders do), lands on the
//! second node, and the channel goes on under the same playlist address, with a
//! discontinuity where the new session begins. A channel that pulls the first one, taken by
//! the first node's supervisor (the second node starts after it), is taken over by the
//! second node's and goes on under its own playlist address too. Players ask either node.
//! Without the services (`.ci/run` names them) the test says it was skipped.

use super::cluster::{Node, admin_token, clean_up, env, s3_store, write_config};
use super::crash::json_of;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A TCP load balancer: each connection goes to the first backend that accepts it (the list
/// may grow while it runs).
async fn balancer(backends: Arc<std::sync::Mutex<Vec<SocketAddr>>>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut incoming, _)) = listener.accept().await {
            let backends = backends.lock().expect("backends").clone();
            tokio::spawn(async move {
                for b in &backends {
                    if let Ok(mut out) = tokio::net::TcpStream::connect(b).await {
                        let _ = tokio::io::copy_bidirectional(&mut incoming, &mut out).await;
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// An encoder that reconnects: `ffmpeg -re` publishing to `url` again whenever it stops,
/// until `stop`.
fn encoder(url: String, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<u32> {
    tokio::spawn(async move {
        let mut publishes = 0;
        while !stop.load(Ordering::SeqCst) {
            publishes += 1;
            let mut child = tokio::process::Command::new("ffmpeg")
                .args(["-nostdin", "-v", "error", "-re", "-f", "lavfi", "-i"])
                .arg("testsrc2=size=640x360:rate=25:duration=120")
                .args(["-f", "lavfi", "-i", "sine=frequency=500:duration=120"])
                .args(["-c:v", "libx264", "-preset", "ultrafast", "-g", "25"])
                .args(["-c:a", "aac", "-f", "flv"])
                .arg(&url)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .expect("ffmpeg");
            while !stop.load(Ordering::SeqCst) {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let _ = child.kill().await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        publishes
    })
}

async fn get(http: &reqwest::Client, url: &str, token: &str) -> (u16, String) {
    match http.get(url).bearer_auth(token).send().await {
        Ok(res) => (res.status().as_u16(), res.text().await.unwrap_or_default()),
        Err(_) => (0, String::new()),
    }
}

/// The segments a playlist lists, in order.
fn segments(playlist: &str) -> Vec<String> {
    playlist
        .lines()
        .filter(|l| l.ends_with(".ts"))
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_channel_goes_on_from_another_node_when_its_node_is_killed() {
    const TEST: &str = "a_live_channel_goes_on_from_another_node_when_its_node_is_killed";
    let (Some(pg), Some(nats), Some(s3)) = (
        env("CITYX_TEST_POSTGRES_URL", TEST),
        env("CITYX_TEST_NATS_URL", TEST),
        s3_store(TEST),
    ) else {
        return;
    };
    let _heavy = super::HEAVY.lock().await;
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let scratch = cityx_db::scratch::ScratchDb::create(&pg)
        .await
        .expect("a scratch database");
    write_config(d, &scratch.url, &s3, &nats);
    let mut nodes = [Node::new("live1", "api"), Node::new("live2", "api")];
    // The second node starts once the first runs the pull, so that the pull is the first's.
    nodes[0].start(d, true);
    let first = nodes[0].base().expect("live1");
    let http = reqwest::Client::new();
    let admin = admin_token(&http, &first).await;

    // A station admin makes a channel.
    let station = json_of(
        http.post(format!("{first}/api/v1/stations"))
            .bearer_auth(&admin)
            .json(&json!({ "name": "直播测试台", "code": "livec", "city": "宁波", "province": "浙江", "region": "east" }))
            .send()
            .await
            .expect("station"),
    )
    .await;
    let res = http
        .post(format!("{first}/api/v1/users"))
        .bearer_auth(&admin)
        .json(&json!({
            "email": "live@cluster.test", "display_name": "live", "role": "station_admin",
            "station_id": station["id"], "password": "live-cluster-pass-1",
        }))
        .send()
        .await
        .expect("user");
    assert!(
        res.status().is_success(),
        "{}",
        res.text().await.unwrap_or_default()
    );
    let login = json_of(
        http.post(format!("{first}/api/v1/auth/token"))
            .json(&json!({ "email": "live@cluster.test", "password": "live-cluster-pass-1" }))
            .send()
            .await
            .expect("login"),
    )
    .await;
    let token = login["token"].as_str().expect("token").to_owned();
    let made: Value = json_of(
        http.post(format!("{first}/api/v1/channels"))
            .bearer_auth(&token)
            .json(&json!({ "name": "集群直播", "visibility": "exchange" }))
            .send()
            .await
            .expect("channel"),
    )
    .await;
    let id = made["channel"]["id"].as_str().expect("id").to_owned();
    let key = made["stream_key"].as_str().expect("key").to_owned();

    let pulling: Value = json_of(
        http.post(format!("{first}/api/v1/channels"))
            .bearer_auth(&token)
            .json(&json!({ "name": "集群转播", "pull_url": format!("channel:{id}") }))
            .send()
            .await
            .expect("channel"),
    )
    .await;
    let pull_id = pulling["channel"]["id"].as_str().expect("id").to_owned();

    // A node's ingest address, as the channel shows it there.
    let ingest_of = |base: String| {
        let (http, id, token) = (&http, &id, &token);
        async move {
            let (_, body) = get(http, &format!("{base}/api/v1/channels/{id}"), token).await;
            let v: Value = serde_json::from_str(&body).expect("json");
            v["ingest"]["rtmp_url"]
                .as_str()
                .expect("rtmp url")
                .trim_start_matches("rtmp://")
                .trim_end_matches("/live")
                .parse::<SocketAddr>()
                .expect("an address")
        }
    };
    // A balancer in front of the ingests, the first node first.
    let backends = Arc::new(std::sync::Mutex::new(vec![ingest_of(first.clone()).await]));
    let front = balancer(backends.clone()).await;
    let stop = Arc::new(AtomicBool::new(false));
    let publishing = encoder(format!("rtmp://{front}/live/{key}"), stop.clone());

    // The first node pulls the channel into the other; then the second node starts.
    let pulled = format!("{first}/api/v1/channels/{pull_id}/hls/index.m3u8");
    let deadline = Instant::now() + Duration::from_secs(60);
    let pull_session = loop {
        let (status, text) = get(&http, &pulled, &token).await;
        if status == 200 && segments(&text).len() >= 2 {
            break segments(&text)[0]
                .split('/')
                .next()
                .expect("session")
                .to_owned();
        }
        assert!(Instant::now() < deadline, "never pulled: {status} {text}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    nodes[1].start(d, false);
    let second = nodes[1].base().expect("live2");
    let second_ingest = ingest_of(second.clone()).await;
    backends.lock().expect("backends").push(second_ingest);

    // Live on the first node; players on the second read the same playlist.
    let playlist = format!("{second}/api/v1/channels/{id}/hls/index.m3u8");
    let deadline = Instant::now() + Duration::from_secs(60);
    let before = loop {
        let (status, text) = get(&http, &playlist, &token).await;
        if status == 200 && segments(&text).len() >= 3 {
            break segments(&text);
        }
        assert!(Instant::now() < deadline, "never live: {status} {text}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let session = before[0].split('/').next().expect("session").to_owned();

    // The first node dies; the encoder reconnects through the balancer to the second.
    nodes[0].kill9();
    let killed = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(60);
    let after = loop {
        let (status, text) = get(&http, &playlist, &token).await;
        let listed = segments(&text);
        let new = listed.iter().filter(|s| !s.starts_with(&session)).count();
        if status == 200 && new >= 2 {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "the channel did not go on from the second node: {status} {text}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    eprintln!(
        "{TEST}: segments of the new session listed {:.1} s after the kill",
        killed.elapsed().as_secs_f64()
    );
    // The same playlist: the old session's segments still listed, then a discontinuity and
    // the new session's; not ended.
    let listed = segments(&after);
    assert!(listed.iter().any(|s| s.starts_with(&session)), "{after}");
    assert!(after.contains("#EXT-X-DISCONTINUITY"), "{after}");
    assert!(!after.contains("#EXT-X-ENDLIST"), "{after}");
    let (_, channel) = get(&http, &format!("{second}/api/v1/channels/{id}"), &token).await;
    let channel: Value = serde_json::from_str(&channel).expect("json");
    assert_eq!(channel["channel"]["state"], "live", "{channel}");
    // The pull went on from the second node too, under its own playlist address.
    let pulled = format!("{second}/api/v1/channels/{pull_id}/hls/index.m3u8");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, text) = get(&http, &pulled, &token).await;
        let listed = segments(&text);
        let new = listed
            .iter()
            .filter(|s| !s.starts_with(&pull_session))
            .count();
        if status == 200 && new >= 2 && listed.iter().any(|s| s.starts_with(&pull_session)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the pull did not go on from the second node: {status} {text}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    eprintln!(
        "{TEST}: the pull's new segments listed {:.1} s after the kill",
        killed.elapsed().as_secs_f64()
    );
    // A new segment plays: MPEG-TS bytes from the shared store.
    let newest = listed.last().expect("a segment");
    let res = http
        .get(format!("{second}/api/v1/channels/{id}/hls/{newest}"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("segment");
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(res.bytes().await.expect("bytes").first(), Some(&0x47));

    stop.store(true, Ordering::SeqCst);
    let publishes = publishing.await.expect("encoder");
    assert!(publishes >= 2, "the encoder reconnected");
    drop(nodes);
    clean_up(d, Some(scratch)).await;
}
