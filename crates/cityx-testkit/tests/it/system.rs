//! Health, readiness, metrics, the OpenAPI document, request ids, headers and shutdown.

use cityx_testkit::TestApp;
use std::time::Duration;

#[tokio::test]
async fn health_readiness_and_metrics() {
    let app = TestApp::spawn().await;
    let (s, b) = app.call("GET", "/healthz", None, None).await;
    assert_eq!((s.as_u16(), b["status"].as_str()), (200, Some("ok")));
    assert_eq!(app.call("GET", "/readyz", None, None).await.0, 200);
    app.get("/api/v1/stations", &app.admin_token).await;
    let metrics = app.metrics().await;
    assert!(metrics.contains("http_requests_total"), "{metrics}");
    assert!(metrics.contains("route=\"/api/v1/stations\""), "{metrics}");
    assert!(
        metrics.contains("http_request_duration_seconds_bucket"),
        "{metrics}"
    );

    // With the database gone, readiness says 503 with Retry-After, and so does the API.
    app.app().repo().close().await;
    let res = app.send("GET", "/readyz", None, None).await;
    assert_eq!(res.status(), 503);
    assert!(res.headers().contains_key("retry-after"));
    let (s, b) = app.get("/api/v1/stations", &app.admin_token).await;
    assert_eq!(
        (s.as_u16(), b["error"]["code"].as_str()),
        (503, Some("unavailable"))
    );
    app.stop().await;
}

/// An S3 store that does not answer (nothing listens on its port): readiness says 503 with
/// Retry-After (the check waits 2 s at most; the client would time out on a hang), and the
/// rest of the API still answers.
#[tokio::test]
async fn readiness_says_503_while_the_object_store_is_down() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let app = TestApp::spawn_with(|s| {
        s.storage.url = "s3://nowhere".into();
        s.storage.endpoint = format!("http://127.0.0.1:{port}");
        s.storage.access_key_id = "key".into();
        s.storage.secret_access_key = "secret".into();
    })
    .await;
    let res = app.send("GET", "/readyz", None, None).await;
    assert_eq!(res.status(), 503);
    assert!(res.headers().contains_key("retry-after"));
    let (s, _) = app.get("/api/v1/stations", &app.admin_token).await;
    assert_eq!(s.as_u16(), 200);
    app.stop().await;
}

#[tokio::test]
async fn openapi_document_is_3_1_and_lists_every_route() {
    let app = TestApp::spawn().await;
    let (s, doc) = app.call("GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(s, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths: Vec<&String> = doc["paths"].as_object().expect("paths").keys().collect();
    for p in [
        "/api/v1/auth/token",
        "/api/v1/me",
        "/api/v1/me/password",
        "/api/v1/stations",
        "/api/v1/stations/{id}",
        "/api/v1/users",
        "/api/v1/users/{id}",
        "/api/v1/users/{id}/password",
        "/api/v1/tokens",
        "/api/v1/tokens/{id}",
        "/api/v1/audit",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(
            paths.iter().any(|k| k.as_str() == p),
            "{p} missing from {paths:?}"
        );
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let docs = app
        .http
        .get(app.url("/api/docs"))
        .send()
        .await
        .expect("docs");
    assert_eq!(docs.status(), 200);
    assert!(
        docs.text()
            .await
            .expect("text")
            .contains("swagger-ui-bundle.js")
    );
    app.stop().await;
}

#[tokio::test]
async fn responses_carry_request_ids_and_safety_headers() {
    let app = TestApp::spawn().await;
    let res = app
        .send("GET", "/api/v1/me", Some(&app.admin_token), None)
        .await;
    let id = res.headers()["x-request-id"]
        .to_str()
        .expect("id")
        .to_owned();
    assert_eq!(
        uuid::Uuid::parse_str(&id).map(|u| u.get_version_num()),
        Ok(7)
    );
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert_eq!(res.headers()["cache-control"], "no-store");
    // Without a trusted proxy in front, a caller's own request id is not taken, however
    // well-formed, and there is no HSTS over plain http.
    let mine = "0192f5e4-7a4b-7c3d-9e8f-0123456789ab";
    let res = app
        .http
        .get(app.url("/healthz"))
        .header("x-request-id", mine)
        .send()
        .await
        .expect("send");
    assert_ne!(res.headers()["x-request-id"], mine);
    assert!(!res.headers().contains_key("strict-transport-security"));
    let page = app.http.get(app.url("/login")).send().await.expect("send");
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .expect("csp");
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    app.stop().await;
}

#[tokio::test]
async fn assets_are_embedded_with_etags() {
    let app = TestApp::spawn().await;
    let res = app
        .http
        .get(app.url("/assets/app.js"))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .expect("ct")
            .contains("javascript")
    );
    let etag = res.headers()["etag"].clone();
    let again = app
        .http
        .get(app.url("/assets/app.js"))
        .header("if-none-match", etag)
        .send()
        .await
        .expect("send");
    assert_eq!(again.status(), 304);
    let css = app
        .http
        .get(app.url("/assets/app-style.css"))
        .send()
        .await
        .expect("send");
    assert!(
        css.text().await.expect("css").contains("--pico"),
        "the CSS bundle includes Pico"
    );
    assert_eq!(
        app.http
            .get(app.url("/assets/nope.js"))
            .send()
            .await
            .expect("send")
            .status(),
        404
    );
    app.stop().await;
}

#[tokio::test]
async fn data_survives_a_restart() {
    let app = TestApp::spawn().await;
    let body = serde_json::json!({ "name": "留存台", "code": "keep", "city": "c", "province": "p", "region": "north" });
    assert_eq!(
        app.post("/api/v1/stations", &app.admin_token, body).await.0,
        201
    );
    let kept = app.stop_keeping_data().await;
    // The same data, a new server: the station and the admin are still there, and no
    // second admin was created.
    let running = cityx::server::start(&kept.settings, &Default::default())
        .await
        .expect("restart");
    assert!(running.created_admin.is_none());
    let sys = cityx_core::Actor::system();
    let page = running
        .app
        .people()
        .list_stations(&sys, &cityx_app::PageRequest::default())
        .await
        .expect("list");
    let codes: Vec<&str> = page.items.iter().map(|s| s.code.as_str()).collect();
    assert_eq!(codes, ["keep"]);
    running
        .shutdown(Duration::from_secs(5))
        .await
        .expect("stop");
    kept.cleanup().await;
}

/// Behind a trusted proxy with an https public URL: a well-formed request id from the proxy
/// is kept, anything else is replaced, and every answer (media files included) carries HSTS.
#[tokio::test]
async fn behind_a_trusted_https_proxy_request_ids_are_strict_and_hsts_is_sent() {
    let app = TestApp::spawn_with(|s| {
        s.server.trust_forwarded = true;
        s.server.public_url = "https://cityx.example.cn".into();
    })
    .await;
    let id_for = |sent: &'static str| {
        let app = &app;
        async move {
            let res = app
                .http
                .get(app.url("/healthz"))
                .header("x-request-id", sent)
                .send()
                .await
                .expect("send");
            assert_eq!(
                res.headers()["strict-transport-security"],
                "max-age=63072000"
            );
            res.headers()["x-request-id"]
                .to_str()
                .expect("id")
                .to_owned()
        }
    };
    let uuid = "0192f5e4-7a4b-7c3d-9e8f-0123456789ab";
    assert_eq!(id_for(uuid).await, uuid);
    let nginx = "6f1e4fd4a3c2b1a0f9e8d7c6b5a49382";
    assert_eq!(id_for(nginx).await, nginx);
    for forged in [
        "trace-me-42",
        "short",
        "0192f5e4 admin=true 0123456789ab",
        "../../../etc/passwd0000",
    ] {
        let got = id_for(forged).await;
        assert_ne!(got, forged);
        assert_eq!(
            uuid::Uuid::parse_str(&got).map(|u| u.get_version_num()),
            Ok(7),
            "{forged} became {got}"
        );
    }
    // A media file (the lean layers) carries it too.
    let res = app
        .http
        .get(app.url("/api/v1/media/not-a-grant/master.m3u8"))
        .send()
        .await
        .expect("send");
    assert_eq!(
        res.headers()["strict-transport-security"],
        "max-age=63072000"
    );
    app.stop().await;
}

/// Whether the server closes this connection within `within` (reading and dropping any
/// answer before the end).
async fn closed_within(tcp: &mut tokio::net::TcpStream, within: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = vec![0u8; 64 * 1024];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

/// Slow headers, silent sockets and idle keep-alive connections are let go after the
/// header time limit, while a long poll and a slow upload body outlast it; one address
/// holds at most its share of connections.
#[tokio::test]
async fn connections_that_send_no_request_are_let_go_and_capped_per_address() {
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpStream;
    let app = TestApp::spawn_with(|s| {
        s.server.header_read_timeout_secs = 1;
        s.server.max_connections_per_ip = 6;
    })
    .await;
    let addr = app.url("").trim_start_matches("http://").to_owned();
    let patience = Duration::from_secs(20);

    // A head that never ends, and a socket that says nothing.
    let mut slow = TcpStream::connect(&addr).await.expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let mut silent = TcpStream::connect(&addr).await.expect("connect");
    assert!(
        closed_within(&mut slow, patience).await,
        "a slow head was kept"
    );
    assert!(
        closed_within(&mut silent, patience).await,
        "a silent socket was kept"
    );

    // An idle keep-alive connection, after a whole answer.
    let mut idle = TcpStream::connect(&addr).await.expect("connect");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    assert!(
        closed_within(&mut idle, patience).await,
        "an idle connection was kept"
    );

    // A long poll that waits longer than the header limit is answered.
    let (s, _) = app.get("/api/v1/feed?wait=3", &app.admin_token).await;
    assert_eq!(s, 200);

    // The cap, from an address of its own (the test's HTTP client is on 127.0.0.1): six
    // connections; a seventh is closed at once; when one of the six goes, there is room.
    let from = |addr: String| async move {
        let sock = tokio::net::TcpSocket::new_v4().expect("socket");
        sock.bind("127.0.0.2:0".parse().expect("addr"))
            .expect("bind 127.0.0.2");
        sock.connect(addr.parse().expect("addr"))
            .await
            .expect("connect")
    };
    let mut held = Vec::new();
    for _ in 0..6 {
        let mut tcp = from(addr.clone()).await;
        // Each one busy with a long poll, so the header limit does not end it.
        let req = format!(
            "GET /api/v1/feed?wait=15 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\r\n",
            app.admin_token
        );
        tcp.write_all(req.as_bytes()).await.expect("write");
        held.push(tcp);
    }
    let mut seventh = from(addr.clone()).await;
    assert!(
        closed_within(&mut seventh, Duration::from_secs(5)).await,
        "a seventh connection from one address was kept"
    );
    assert!(
        app.metrics()
            .await
            .contains("cityx_connections_refused_total")
    );
    drop(held.pop());
    let deadline = std::time::Instant::now() + patience;
    loop {
        use tokio::io::AsyncReadExt;
        let mut tcp = from(addr.clone()).await;
        tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .expect("write");
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut answer)).await;
        if answer.starts_with(b"HTTP/1.1 200") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no room came back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    app.stop().await;
}
