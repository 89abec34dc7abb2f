//! Webhooks over HTTP: registration through the outbound guard, signed deliveries to a
//! receiver on loopback, retries with backoff, the delivery log, rights, and retrying a
//! failed delivery.

use cityx_testkit::{TestApp, World};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One POST the receiver got.
#[derive(Clone, Debug)]
struct Received {
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

/// A webhook receiver on loopback. It records every request; a path in `failing` answers
/// 500, any other 204.
struct Receiver {
    port: u16,
    got: Arc<Mutex<Vec<Received>>>,
    failing: Arc<Mutex<Vec<String>>>,
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let failing: Arc<Mutex<Vec<String>>> = Arc::default();
        let (g, f) = (got.clone(), failing.clone());
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let (g, f) = (g.clone(), f.clone());
                tokio::spawn(async move {
                    let Some(r) = read_request(&mut s).await else {
                        return;
                    };
                    let fail = f.lock().expect("lock").contains(&r.path);
                    g.lock().expect("lock").push(r);
                    let answer: &[u8] = if fail {
                        b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"
                    } else {
                        b"HTTP/1.1 204 No Content\r\n\r\n"
                    };
                    let _ = s.write_all(answer).await;
                    let _ = s.shutdown().await;
                });
            }
        });
        Receiver { port, got, failing }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn fail(&self, path: &str, on: bool) {
        let mut f = self.failing.lock().expect("lock");
        f.retain(|p| p != path);
        if on {
            f.push(path.to_owned());
        }
    }

    fn at(&self, path: &str) -> Vec<Received> {
        self.got
            .lock()
            .expect("lock")
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// Waits until `path` has had `n` requests; panics after `secs`.
    async fn wait_for(&self, path: &str, n: usize, secs: u64) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let got = self.at(path);
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "{path}: {} of {n} requests after {secs} s",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn read_request(s: &mut tokio::net::TcpStream) -> Option<Received> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let path = lines.next()?.split_whitespace().nth(1)?.to_owned();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = headers.get("content-length")?.parse().ok()?;
    while buf.len() < head_end + len {
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(Received {
        path,
        headers,
        body: buf[head_end..head_end + len].to_vec(),
    })
}

/// Checks a request's signature as a receiver would, from the documented construction.
fn verify(secret: &str, r: &Received) -> Value {
    let ts = &r.headers["x-cityx-timestamp"];
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(ts.as_bytes());
    mac.update(b".");
    mac.update(&r.body);
    let want: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(r.headers["x-cityx-signature"], format!("sha256={want}"));
    let age = time::OffsetDateTime::now_utc().unix_timestamp() - ts.parse::<i64>().expect("ts");
    assert!((0..120).contains(&age), "timestamp {ts} is {age} s old");
    assert_eq!(r.headers["content-type"], "application/json");
    serde_json::from_slice(&r.body).expect("json body")
}

async fn deliveries(app: &TestApp, token: &str, hook: &str) -> Vec<Value> {
    let (s, b) = app.get(&format!("/api/v1/webhooks/{hook}"), token).await;
    assert_eq!(s, 200, "{b}");
    b["deliveries"].as_array().expect("deliveries").clone()
}

/// Waits until the webhook's delivery of `seq` is in `state`.
/// The delivery of event `seq` once it is in `state` after at least one attempt (a pending
/// delivery is pending before its first attempt is recorded too, which may come after the
/// receiver saw the request).
async fn delivery_in(app: &TestApp, token: &str, hook: &str, seq: i64, state: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let all = deliveries(app, token, hook).await;
        if let Some(d) = all.iter().find(|d| {
            d["event_seq"] == seq && d["state"] == state && d["attempts"].as_i64() > Some(0)
        }) {
            return d.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no {state} delivery of {seq}: {all:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn stations_receive_signed_events_retried_until_they_answer() {
    let app = TestApp::spawn_with(|s| {
        s.fetch.allow_cidrs = vec!["127.0.0.1/32".into()];
        // Items are finished by the test; only deliveries run, retried quickly.
        s.jobs.only_kinds = vec!["webhook".into()];
        s.jobs.retry_base_secs = 1;
        s.jobs.retry_max_secs = 1;
    })
    .await;
    let w = World::seed(&app).await;
    let rx = Receiver::start().await;
    let admin_b = w.user("station_admin@b").token.clone();
    let create = |token: String, body: Value| {
        let app = &app;
        async move { app.post("/api/v1/webhooks", &token, body).await }
    };

    // Registration: station admins only, an http(s) address the guard admits, known kinds.
    for (who, status) in [
        ("editor@b", 403),
        ("viewer@b", 403),
        ("hub_editor", 403),
        ("hub_admin", 403),
    ] {
        let (s, b) = create(w.user(who).token.clone(), json!({ "url": rx.url("/x") })).await;
        assert_eq!(s, status, "{who}: {b}");
    }
    for (body, field_code) in [
        (
            json!({ "url": "http://10.1.2.3/hook" }),
            "forbidden_address",
        ),
        (
            json!({ "url": "http://[::1]:8080/hook" }),
            "forbidden_address",
        ),
        (json!({ "url": "ftp://127.0.0.1/hook" }), "bad_format"),
        (json!({ "url": "" }), "required"),
        (
            json!({ "url": rx.url("/x"), "kinds": ["item.deleted"] }),
            "unknown_kind",
        ),
    ] {
        let (s, b) = create(admin_b.clone(), body.clone()).await;
        assert_eq!(s, 422, "{body}: {b}");
        assert_eq!(b["error"]["fields"][0]["code"], field_code, "{body}: {b}");
    }
    let (s, b) = create(
        admin_b.clone(),
        json!({ "url": rx.url("/x"), "secret": "mine" }),
    )
    .await;
    assert_eq!(
        (s.as_u16(), b["error"]["code"].as_str()),
        (400, Some("malformed_json"))
    );
    let (s, _) = app.get("/api/v1/webhooks", &admin_b).await;
    assert_eq!(s, 200);

    let (s, made) = create(admin_b.clone(), json!({ "url": rx.url("/乙/hook") })).await;
    assert_eq!(s, 201, "{made}");
    let secret = made["secret"].as_str().expect("secret").to_owned();
    assert!(
        secret.starts_with("whsec_") && secret.len() > 60,
        "{secret}"
    );
    let hook = made["webhook"]["id"].as_str().expect("id").to_owned();
    assert!(
        made["webhook"]["kinds"]
            .as_array()
            .expect("kinds")
            .is_empty()
    );
    let (_, listed) = app.get("/api/v1/webhooks", &admin_b).await;
    assert_eq!(listed["items"][0]["id"], hook.as_str());
    assert!(
        !listed.to_string().contains(&secret),
        "the secret is shown only once"
    );
    let path = "/%E4%B9%99/hook";

    // A publishes an item; the receiver fails the first attempt, and the retry comes with
    // the same delivery id and a valid signature.
    rx.fail(path, true);
    let editor_a = w.user("editor@a").token.clone();
    let item = app
        .item_with(&editor_a, &[("title", "台风过境 城区积水")])
        .await;
    assert_eq!(app.finish_pending().await, 1);
    let first = rx.wait_for(path, 1, 20).await;
    let event = verify(&secret, &first[0]);
    assert_eq!(event["event"]["kind"], "item.published");
    assert_eq!(event["event"]["asset_id"], item.as_str());
    assert_eq!(event["event"]["data"]["title"], "台风过境 城区积水");
    assert_eq!(event["webhook_id"], hook.as_str());
    assert_eq!(event["station_id"], w.id_b());
    assert_eq!(first[0].headers["x-cityx-event"], "item.published");
    let seq = event["event"]["seq"].as_i64().expect("seq");
    let d = delivery_in(&app, &admin_b, &hook, seq, "pending").await;
    assert_eq!(d["response_status"], 500);
    rx.fail(path, false);
    let both = rx.wait_for(path, 2, 20).await;
    verify(&secret, &both[1]);
    assert_eq!(
        both[0].headers["x-cityx-delivery"],
        both[1].headers["x-cityx-delivery"]
    );
    assert_eq!(both[0].body.len(), both[1].body.len());
    let d = delivery_in(&app, &admin_b, &hook, seq, "delivered").await;
    assert_eq!(
        (d["attempts"].as_i64(), d["response_status"].as_i64()),
        (Some(2), Some(204))
    );
    assert_eq!(d["id"], both[0].headers["x-cityx-delivery"].as_str());

    // The feed's rule: an item private to A is never sent to B.
    let private = app.item_with(&editor_a, &[("title", "内部素材")]).await;
    app.set_rights(&editor_a, &private, json!({ "visibility": "private" }))
        .await;
    let shared = app.item_with(&editor_a, &[("title", "公开素材")]).await;
    assert_eq!(app.finish_pending().await, 2);
    rx.wait_for(path, 3, 20).await;
    let bodies: Vec<String> = rx
        .at(path)
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    assert!(bodies.iter().any(|b| b.contains(&shared)));
    assert!(!bodies.iter().any(|b| b.contains(&private)), "{bodies:?}");
    assert_eq!(deliveries(&app, &admin_b, &hook).await.len(), 2);

    // Another station's admin cannot see it; the hub admin can.
    let admin_a = w.user("station_admin@a").token.clone();
    let (s, b) = app.get(&format!("/api/v1/webhooks/{hook}"), &admin_a).await;
    assert_eq!(
        (s.as_u16(), b["error"]["code"].as_str()),
        (404, Some("webhook_not_found"))
    );
    let (_, all) = app.get("/api/v1/webhooks", &app.admin_token).await;
    assert_eq!(all["items"].as_array().map(Vec::len), Some(1));

    // A receiver that keeps failing: after the last attempt the delivery is failed; a retry
    // sends it again.
    let (_, flaky) = create(
        admin_b.clone(),
        json!({ "url": rx.url("/flaky"), "kinds": ["adoption.created"] }),
    )
    .await;
    let flaky_secret = flaky["secret"].as_str().expect("secret").to_owned();
    assert_ne!(flaky_secret, secret, "every webhook has its own secret");
    let flaky = flaky["webhook"]["id"].as_str().expect("id").to_owned();
    rx.fail("/flaky", true);
    let (s, b) = app
        .post(
            &format!("/api/v1/assets/{shared}/adoptions"),
            &w.user("editor@b").token,
            json!({ "rendition": "proxy" }),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    rx.wait_for("/flaky", 10, 60).await;
    let (_, view) = app
        .get(&format!("/api/v1/webhooks/{flaky}"), &admin_b)
        .await;
    let d = view["deliveries"][0].clone();
    let seq = d["event_seq"].as_i64().expect("seq");
    let failed = delivery_in(&app, &admin_b, &flaky, seq, "failed").await;
    assert_eq!(failed["attempts"], 10);
    assert_eq!(rx.at("/flaky").len(), 10, "no attempt after the last");
    let retry = format!(
        "/api/v1/webhooks/{flaky}/deliveries/{}/retry",
        d["id"].as_str().expect("id")
    );
    let (s, b) = app.post(&retry, &admin_a, json!({})).await;
    assert_eq!(
        (s.as_u16(), b["error"]["code"].as_str()),
        (404, Some("webhook_not_found"))
    );
    rx.fail("/flaky", false);
    let (s, b) = app.post(&retry, &admin_b, json!({})).await;
    assert_eq!(s, 202, "{b}");
    delivery_in(&app, &admin_b, &flaky, seq, "delivered").await;
    let (s, b) = app.post(&retry, &admin_b, json!({})).await;
    assert_eq!(
        (s.as_u16(), b["error"]["code"].as_str()),
        (409, Some("invalid_state"))
    );
    let adoption = verify(&flaky_secret, rx.at("/flaky").last().expect("delivered"));
    assert_eq!(adoption["event"]["kind"], "adoption.created");

    // Deleted: gone from the list, and nothing more is sent to it.
    let (s, _) = app
        .call(
            "DELETE",
            &format!("/api/v1/webhooks/{hook}"),
            Some(&admin_b),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (s, _) = app.get(&format!("/api/v1/webhooks/{hook}"), &admin_b).await;
    assert_eq!(s, 404);
    let before = rx.at(path).len();
    app.item_with(&editor_a, &[("title", "删除之后")]).await;
    assert_eq!(app.finish_pending().await, 1);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(rx.at(path).len(), before);
    app.stop().await;
}
