//! Bad input gets a clear 4xx with a stable code, and changes nothing.

use cityx_testkit::TestApp;
use serde_json::{Value, json};

async fn snapshot(app: &TestApp) -> (Value, usize) {
    let (_, stations) = app
        .get("/api/v1/stations?limit=500", &app.admin_token)
        .await;
    let (_, audit) = app.get("/api/v1/audit?limit=500", &app.admin_token).await;
    let changes = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| !e["action"].as_str().unwrap_or("").starts_with("login"))
        .count();
    (stations["items"].clone(), changes)
}

#[tokio::test]
async fn malformed_requests_get_codes_and_change_nothing() {
    let app = TestApp::spawn_with(|s| s.server.body_limit_bytes = 64 * 1024).await;
    let good = json!({ "name": "杭州台", "code": "hz", "city": "杭州", "province": "浙江", "region": "east" });
    assert_eq!(
        app.post("/api/v1/stations", &app.admin_token, good.clone())
            .await
            .0,
        201
    );
    let before = snapshot(&app).await;

    let raw = |body: &'static str, ctype: &'static str| {
        let app = &app;
        async move {
            let res = app
                .http
                .post(app.url("/api/v1/stations"))
                .bearer_auth(&app.admin_token)
                .header("content-type", ctype)
                .body(body)
                .send()
                .await
                .expect("send");
            let s = res.status().as_u16();
            let b: Value = res.json().await.unwrap_or(Value::Null);
            (s, b["error"]["code"].as_str().unwrap_or("").to_owned())
        }
    };
    assert_eq!(
        raw("{not json", "application/json").await,
        (400, "malformed_json".into())
    );
    assert_eq!(
        raw("[]", "application/json").await,
        (400, "malformed_json".into())
    );
    assert_eq!(
        raw("", "application/json").await,
        (400, "malformed_json".into())
    );
    assert_eq!(
        raw("name=x", "application/x-www-form-urlencoded").await,
        (415, "unsupported_media_type".into())
    );
    assert_eq!(
        raw("{}", "text/plain").await,
        (415, "unsupported_media_type".into())
    );

    let huge = json!({ "name": "x".repeat(100 * 1024), "code": "big", "city": "c", "province": "p", "region": "east" });
    let (s, b) = app.post("/api/v1/stations", &app.admin_token, huge).await;
    assert_eq!(
        (s.as_u16(), b["error"]["code"].as_str()),
        (413, Some("payload_too_large"))
    );

    let cases = [
        (
            json!({ "name": "x", "code": "hz2", "city": "c", "province": "p", "region": "east", "colour": "red" }),
            400,
            "malformed_json",
        ),
        (
            json!({ "name": "x", "code": "hz2", "city": "c", "province": "p", "region": "atlantis" }),
            400,
            "malformed_json",
        ),
        (
            json!({ "name": "x", "code": "HZ", "city": "c", "province": "p", "region": "east" }),
            409,
            "station_code_taken",
        ),
        (
            json!({ "name": " ", "code": "h", "city": "c", "province": "p", "region": "east" }),
            422,
            "validation_failed",
        ),
        (
            json!({ "name": "x\u{0}y", "code": "hz3", "city": "c", "province": "p", "region": "east" }),
            422,
            "validation_failed",
        ),
    ];
    for (body, status, code) in cases {
        let (s, b) = app
            .post("/api/v1/stations", &app.admin_token, body.clone())
            .await;
        assert_eq!(
            (s.as_u16(), b["error"]["code"].as_str()),
            (status, Some(code)),
            "{body} → {b}"
        );
    }

    for (path, status, code) in [
        ("/api/v1/stations?colour=red", 400, "invalid_query"),
        ("/api/v1/stations?limit=many", 400, "invalid_query"),
        ("/api/v1/stations?cursor=tampered", 400, "invalid_cursor"),
        ("/api/v1/users?station_id=not-a-uuid", 400, "invalid_query"),
        ("/api/v1/stations/not-a-uuid", 404, "not_found"),
        (
            "/api/v1/stations/01939e54-0000-7000-8000-000000000000",
            404,
            "station_not_found",
        ),
        ("/api/v1/nothing-here", 404, "not_found"),
    ] {
        let (s, b) = app.get(path, &app.admin_token).await;
        assert_eq!(
            (s.as_u16(), b["error"]["code"].as_str()),
            (status, Some(code)),
            "{path}"
        );
    }
    let (s, b) = app
        .call(
            "PUT",
            "/api/v1/stations",
            Some(&app.admin_token),
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (s.as_u16(), b["error"]["code"].as_str()),
        (405, Some("method_not_allowed"))
    );

    assert_eq!(
        snapshot(&app).await,
        before,
        "failed requests changed something"
    );
    app.stop().await;
}

#[tokio::test]
async fn validation_errors_name_each_field() {
    let app = TestApp::spawn().await;
    let body = json!({ "name": "", "code": "-bad", "city": "c", "province": "p", "region": "east", "contact_email": "nope" });
    let (s, b) = app.post("/api/v1/stations", &app.admin_token, body).await;
    assert_eq!(s, 422);
    let fields: Vec<(&str, &str)> = b["error"]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|f| {
            (
                f["field"].as_str().unwrap_or(""),
                f["code"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        fields,
        [
            ("name", "required"),
            ("code", "bad_format"),
            ("contact_email", "bad_format")
        ]
    );
    let (s, b) = app
        .post(
            "/api/v1/tokens",
            &app.admin_token,
            json!({ "name": "t", "scopes": ["read"], "expires_in_days": 10000 }),
        )
        .await;
    assert_eq!(
        (s.as_u16(), b["error"]["fields"][0]["field"].as_str()),
        (422, Some("expires_in_days"))
    );
    app.stop().await;
}

/// Direction marks (U+202E and the other bidi controls) are refused in every text field, so
/// no title or file name can read backwards in a list or a saved file.
#[tokio::test]
async fn direction_marks_are_refused_in_text_fields() {
    use base64::Engine as _;
    let app = TestApp::spawn().await;
    let w = cityx_testkit::World::seed(&app).await;
    let field_of = |b: &Value| {
        (
            b["error"]["fields"][0]["field"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
            b["error"]["fields"][0]["code"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
        )
    };
    let rlo = "新闻\u{202E}4pm.exe";
    let before = snapshot(&app).await;
    let body =
        json!({ "name": rlo, "code": "rlo", "city": "c", "province": "p", "region": "east" });
    let (s, b) = app.post("/api/v1/stations", &app.admin_token, body).await;
    assert_eq!(
        (s.as_u16(), field_of(&b)),
        (422, ("name".into(), "bad_format".into()))
    );
    let body = json!({ "name": "t\u{2066}x", "scopes": ["read"] });
    let (s, b) = app.post("/api/v1/tokens", &app.admin_token, body).await;
    assert_eq!(
        (s.as_u16(), field_of(&b)),
        (422, ("name".into(), "bad_format".into()))
    );

    let ed = w.user("editor@a");
    let b64 = |v: &str| base64::engine::general_purpose::STANDARD.encode(v);
    for (key, meta) in [
        (
            "filename",
            format!("filename {}", b64("clip\u{202E}4pm.exe")),
        ),
        (
            "title",
            format!("filename {},title {}", b64("clip.mp4"), b64(rlo)),
        ),
        (
            "summary",
            format!(
                "filename {},summary {}",
                b64("clip.mp4"),
                b64("第一行\n\u{200F}")
            ),
        ),
        (
            "keywords",
            format!(
                "filename {},keywords {}",
                b64("clip.mp4"),
                b64("暴雨,\u{202B}救援")
            ),
        ),
    ] {
        let res = app
            .http
            .post(app.url("/api/v1/uploads"))
            .bearer_auth(&ed.token)
            .header("tus-resumable", "1.0.0")
            .header("upload-length", "10")
            .header("upload-metadata", meta)
            .send()
            .await
            .expect("send");
        let status = res.status().as_u16();
        let b: Value = res.json().await.expect("json");
        assert_eq!(
            (status, field_of(&b)),
            (422, (key.into(), "bad_format".into())),
            "{key}"
        );
    }
    assert_eq!(snapshot(&app).await, before, "nothing changed");
    app.stop().await;
}
