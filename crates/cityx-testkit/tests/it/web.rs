//! The web UI over plain HTTP: sign-in, sessions, CSRF, language, and error pages.
//! (The browser test in e2e/ drives the same pages in Chromium.)

use cityx_testkit::{ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, TestApp, World};
use reqwest::header::{COOKIE, SET_COOKIE};
use std::collections::BTreeMap;

/// A minimal browser: keeps cookies, does not follow redirects.
pub(crate) struct Browser<'a> {
    app: &'a TestApp,
    cookies: BTreeMap<String, String>,
    /// Raw Set-Cookie values seen, to check attributes.
    set_cookies: Vec<String>,
}

pub(crate) struct Page {
    pub(crate) status: u16,
    location: String,
    pub(crate) body: String,
}

impl Page {
    /// The value of the first hidden `_csrf` field.
    fn csrf(&self) -> String {
        let marker = "name=\"_csrf\" value=\"";
        let start = self
            .body
            .find(marker)
            .map(|i| i + marker.len())
            .expect("a form with _csrf");
        self.body[start..]
            .split('"')
            .next()
            .unwrap_or_default()
            .to_owned()
    }
}

/// Every page the tests read has each `id` once: a template that repeats a block (as an
/// edit once did, doubling the item page) fails here, whatever the test looks at.
fn assert_unique_ids(body: &str) {
    let mut seen = std::collections::BTreeSet::new();
    for part in body.split(" id=\"").skip(1) {
        let id = part.split('"').next().unwrap_or_default();
        assert!(seen.insert(id.to_owned()), "id \"{id}\" twice on a page");
    }
}

impl<'a> Browser<'a> {
    pub(crate) fn new(app: &'a TestApp) -> Self {
        Browser {
            app,
            cookies: BTreeMap::new(),
            set_cookies: Vec::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn absorb(&mut self, res: reqwest::Response) -> Page {
        for v in res.headers().get_all(SET_COOKIE) {
            let v = v.to_str().unwrap_or_default().to_owned();
            if let Some((kv, _)) = v.split_once(';')
                && let Some((k, val)) = kv.split_once('=')
            {
                if val.is_empty() {
                    self.cookies.remove(k);
                } else {
                    self.cookies.insert(k.to_owned(), val.to_owned());
                }
            }
            self.set_cookies.push(v);
        }
        let status = res.status().as_u16();
        let location = res
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = res.text().await.unwrap_or_default();
        assert_unique_ids(&body);
        Page {
            status,
            location,
            body,
        }
    }

    pub(crate) async fn get(&mut self, path: &str) -> Page {
        let res = self
            .app
            .http
            .get(self.app.url(path))
            .header(COOKIE, self.cookie_header())
            .header("accept", "text/html")
            .send()
            .await
            .expect("get");
        self.absorb(res).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let res = self
            .app
            .http
            .post(self.app.url(path))
            .header(COOKIE, self.cookie_header())
            .form(form)
            .send()
            .await
            .expect("post");
        self.absorb(res).await
    }

    pub(crate) async fn sign_in(&mut self, email: &str, password: &str) -> Page {
        let login = self.get("/login").await;
        let csrf = login.csrf();
        self.post(
            "/login",
            &[
                ("email", email),
                ("password", password),
                ("_csrf", &csrf),
                ("next", "/"),
            ],
        )
        .await
    }
}

#[tokio::test]
async fn signing_in_and_out() {
    let app = TestApp::spawn().await;
    let mut b = Browser::new(&app);
    let home = b.get("/users").await;
    assert_eq!(
        (home.status, home.location.as_str()),
        (303, "/login?next=/users")
    );

    let login = b.get("/login").await;
    assert!(login.body.contains("<html lang=\"zh-CN\">") && login.body.contains("登录"));
    // Without the form's CSRF token the sign-in is refused.
    let p = b
        .post(
            "/login",
            &[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)],
        )
        .await;
    assert_eq!(p.status, 403);
    let p = b.sign_in(ADMIN_EMAIL, "wrong password").await;
    assert_eq!(p.status, 401);
    assert!(p.body.contains("邮箱或密码不正确"), "a clear Chinese error");
    assert!(!b.cookies.contains_key("cityx_session"));

    let p = b.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!((p.status, p.location.as_str()), (303, "/"));
    let session = b
        .set_cookies
        .iter()
        .find(|c| c.starts_with("cityx_session="))
        .expect("session cookie");
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Lax"),
        "{session}"
    );
    assert!(
        !session.contains("Secure"),
        "plain http on loopback: {session}"
    );
    let home = b.get("/").await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains("欢迎") && home.body.contains(ADMIN_EMAIL));

    let csrf = home.csrf();
    let out = b.post("/logout", &[("_csrf", &csrf)]).await;
    assert_eq!(
        (out.status, out.location.as_str()),
        (303, "/login?done=signed_out")
    );
    assert_eq!(b.get("/").await.status, 303, "the session is gone");
    app.stop().await;
}

#[tokio::test]
async fn cookies_are_secure_behind_https() {
    let app =
        TestApp::spawn_with(|s| s.server.public_url = "https://cityx.example.cn".into()).await;
    let mut b = Browser::new(&app);
    b.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let session = b
        .set_cookies
        .iter()
        .find(|c| c.starts_with("cityx_session="))
        .expect("session");
    assert!(session.contains("Secure"), "{session}");
    app.stop().await;
}

#[tokio::test]
async fn forms_need_the_session_csrf_token() {
    let app = TestApp::spawn().await;
    let mut b = Browser::new(&app);
    b.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let fields = [
        ("name", "网页台"),
        ("code", "webtv"),
        ("city", "宁波"),
        ("province", "浙江"),
        ("region", "east"),
    ];
    let p = b.post("/stations", &fields).await;
    assert_eq!(p.status, 403);
    assert!(p.body.contains("表单已过期"));
    let mut forged = fields.to_vec();
    forged.push(("_csrf", "0000"));
    assert_eq!(b.post("/stations", &forged).await.status, 403);
    let (_, list) = app.get("/api/v1/stations", &app.admin_token).await;
    assert_eq!(
        list["items"].as_array().map(Vec::len),
        Some(0),
        "refused forms change nothing"
    );

    let csrf = b.get("/stations").await.csrf();
    let mut good = fields.to_vec();
    good.push(("_csrf", &csrf));
    let p = b.post("/stations", &good).await;
    assert_eq!(
        (p.status, p.location.as_str()),
        (303, "/stations?done=station_created")
    );
    let page = b.get("/stations?done=station_created").await;
    assert!(page.body.contains("电视台已创建") && page.body.contains("网页台"));

    // Invalid input re-renders the form with translated errors and keeps what was typed.
    let bad = [
        ("name", "第二台"),
        ("code", "-x"),
        ("city", ""),
        ("province", "浙江"),
        ("region", "east"),
        ("_csrf", &csrf),
    ];
    let p = b.post("/stations", &bad).await;
    assert_eq!(p.status, 422);
    assert!(
        p.body.contains("代码：格式不正确") && p.body.contains("城市：必填"),
        "{}",
        p.body
    );
    assert!(p.body.contains("value=\"第二台\""));
    app.stop().await;
}

#[tokio::test]
async fn the_api_accepts_the_session_cookie_with_a_csrf_header() {
    let app = TestApp::spawn().await;
    let mut b = Browser::new(&app);
    b.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let csrf = b.get("/").await.csrf();
    let call = |method: reqwest::Method, csrf: Option<String>| {
        let mut req = app
            .http
            .request(method, app.url("/api/v1/tokens"))
            .header(COOKIE, b.cookie_header())
            .json(&serde_json::json!({ "name": "from the page", "scopes": ["read"] }));
        if let Some(c) = csrf {
            req = req.header("x-csrf-token", c);
        }
        req.send()
    };
    assert_eq!(
        call(reqwest::Method::GET, None)
            .await
            .expect("get")
            .status(),
        200
    );
    let res = call(reqwest::Method::POST, None).await.expect("post");
    assert_eq!(res.status(), 403);
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!(body["error"]["code"], "csrf_failed");
    assert_eq!(
        call(reqwest::Method::POST, Some(csrf))
            .await
            .expect("post")
            .status(),
        201
    );
    app.stop().await;
}

#[tokio::test]
async fn english_is_one_click_away() {
    let app = TestApp::spawn().await;
    let mut b = Browser::new(&app);
    b.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let p = b.get("/lang/en?next=/stations").await;
    assert_eq!((p.status, p.location.as_str()), (303, "/stations"));
    let page = b.get("/stations").await;
    assert!(page.body.contains("<html lang=\"en\">") && page.body.contains("New station"));
    // Off-site targets are ignored.
    let p = b.get("/lang/zh?next=//evil.example").await;
    assert_eq!(p.location, "/");
    assert!(b.get("/").await.body.contains("欢迎"));
    app.stop().await;
}

#[tokio::test]
async fn pages_respect_roles_and_stations() {
    let app = TestApp::spawn().await;
    let w = World::seed(&app).await;
    let mut ed = Browser::new(&app);
    ed.sign_in(&w.user("editor@a").email, PASSWORD).await;
    let audit = ed.get("/audit").await;
    assert_eq!(audit.status, 403);
    assert!(audit.body.contains("你的角色无权进行此操作"));
    assert!(
        !ed.get("/").await.body.contains("href=\"/audit\""),
        "no link to what one may not open"
    );

    let mut sa = Browser::new(&app);
    sa.sign_in(&w.user("station_admin@a").email, PASSWORD).await;
    let users = sa.get("/users").await;
    assert_eq!(users.status, 200);
    assert!(users.body.contains("viewer.a@test.cn") && !users.body.contains("viewer.b@test.cn"));
    assert!(
        !users.body.contains("value=\"hub_admin\""),
        "a station admin cannot grant hub roles"
    );
    let other = sa.get(&format!("/users/{}", w.user("viewer@b").id)).await;
    assert_eq!(other.status, 404);
    // Another station's page is its card: where it is and whom to call, nothing to change,
    // and no quota.
    let station_b = sa.get(&format!("/stations/{}", w.id_b())).await;
    assert_eq!(station_b.status, 200);
    assert!(
        station_b.body.contains("id=\"contact-name\""),
        "{}",
        station_b.body
    );
    assert!(!station_b.body.contains("action=\"/stations/"), "no form");
    assert!(!station_b.body.contains("id=\"quota\""), "no quota");
    let directory = ed.get("/stations").await;
    assert!(
        directory.body.contains(&format!("/stations/{}", w.id_b())),
        "the directory lists every member: {}",
        directory.body
    );
    let (s, _) = app
        .get(
            &format!("/api/v1/stations/{}", w.id_b()),
            &w.user("station_admin@a").token,
        )
        .await;
    assert_eq!(s, 404, "the API still shows a station its own record only");
    let nowhere = sa
        .get("/stations/01939e54-0000-7000-8000-000000000000")
        .await;
    assert_eq!(nowhere.status, 404);

    // The station admin creates a colleague through the form and sees the generated password.
    let csrf = users.csrf();
    let form = [
        ("email", "colleague@test.cn"),
        ("display_name", "同事"),
        ("role", "editor"),
        ("station_id", w.id_a()),
        ("password", ""),
        ("_csrf", csrf.as_str()),
    ];
    let created = sa.post("/users", &form).await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert!(created.body.contains("已生成密码") && created.body.contains("colleague@test.cn"));
    let unknown = sa.get("/no-such-page").await;
    assert_eq!(unknown.status, 404);
    assert!(unknown.body.contains("找不到这个页面"));
    app.stop().await;
}

/// The hub sees each station's storage on its page and sets its quota there; the station
/// sees its own use without the form; a bad number is explained and keeps the page.
#[tokio::test]
async fn the_hub_sets_a_stations_quota_on_its_page() {
    let app = TestApp::spawn().await;
    let w = World::seed(&app).await;
    let page = format!("/stations/{}", w.id_a());
    let mut hub = Browser::new(&app);
    hub.sign_in(cityx_testkit::ADMIN_EMAIL, cityx_testkit::ADMIN_PASSWORD)
        .await;
    let shown = hub.get(&page).await;
    assert_eq!(shown.status, 200);
    assert!(
        shown.body.contains("存储配额") && shown.body.contains("默认配额"),
        "{}",
        shown.body
    );
    let csrf = shown.csrf();
    let quota = format!("{page}/quota");
    let bad = hub
        .post(&quota, &[("quota_gb", "五百"), ("_csrf", csrf.as_str())])
        .await;
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("请填写整数 GB") && bad.body.contains("form-errors"));
    assert!(bad.body.contains("value=\"五百\""), "what was typed stays");
    let saved = hub
        .post(&quota, &[("quota_gb", "5"), ("_csrf", csrf.as_str())])
        .await;
    assert_eq!(
        (saved.status, saved.location.as_str()),
        (303, format!("{page}?done=quota_saved").as_str())
    );
    let after = hub.get(&saved.location).await;
    assert!(after.body.contains("配额已保存") && after.body.contains("value=\"5\""));

    let mut sa = Browser::new(&app);
    sa.sign_in(&w.user("station_admin@a").email, PASSWORD).await;
    let own = sa.get(&page).await;
    assert!(own.body.contains("存储配额") && !own.body.contains("action=\"/stations/"));
    let refused = sa
        .post(
            &quota,
            &[("quota_gb", "9999"), ("_csrf", own.csrf().as_str())],
        )
        .await;
    assert_eq!(refused.status, 403);
    app.stop().await;
}

/// Any signed-in person changes their own password on the account page, whatever their
/// role's token scopes: an editor here. A wrong current password keeps the form; the right
/// one ends every sign-in and token and says so.
#[tokio::test]
async fn editors_change_their_password_on_the_account_page() {
    let app = TestApp::spawn().await;
    let w = World::seed(&app).await;
    let ed = w.user("editor@a");
    let mut b = Browser::new(&app);
    b.sign_in(&ed.email, PASSWORD).await;
    let page = b.get("/account").await;
    assert_eq!(page.status, 200);
    let csrf = page.csrf();
    let wrong = b
        .post(
            "/account/password",
            &[
                ("current_password", "not-my-password"),
                ("new_password", "a-brand-new-password"),
                ("_csrf", csrf.as_str()),
            ],
        )
        .await;
    assert_eq!(wrong.status, 422, "{}", wrong.body);
    assert!(wrong.body.contains("当前密码") && wrong.body.contains("new_password"));
    let done = b
        .post(
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", "a-brand-new-password"),
                ("_csrf", csrf.as_str()),
            ],
        )
        .await;
    assert_eq!(
        (done.status, done.location.as_str()),
        (303, "/login?done=password_changed")
    );
    let login = b.get(&done.location).await;
    assert!(
        login.body.contains("所有登录和 API 令牌均已失效"),
        "{}",
        login.body
    );
    // The editor's sign-in token from before is revoked too.
    let (s, body) = app.get("/api/v1/me", &ed.token).await;
    assert_eq!(
        (s.as_u16(), body["error"]["code"].as_str()),
        (401, Some("token_revoked"))
    );
    app.login(&ed.email, "a-brand-new-password").await;
    app.stop().await;
}

/// After too many wrong passwords the sign-in page says how long to wait and keeps the email.
#[tokio::test]
async fn the_sign_in_page_says_how_long_to_wait() {
    let app = TestApp::spawn().await;
    let mut b = Browser::new(&app);
    let mut last = None;
    for _ in 0..6 {
        let login = b.get("/login").await;
        let csrf = login.csrf();
        let page = b
            .post(
                "/login",
                &[
                    ("email", "nobody@test.cn"),
                    ("password", "wrong-password"),
                    ("_csrf", csrf.as_str()),
                    ("next", "/"),
                ],
            )
            .await;
        last = Some(page);
    }
    let page = last.expect("a page");
    assert_eq!(page.status, 429);
    assert!(page.body.contains("失败次数过多"), "{}", page.body);
    assert!(page.body.contains("约 15 分钟后可以再试"), "{}", page.body);
    assert!(page.body.contains("nobody@test.cn"), "the email stays");
    app.stop().await;
}

#[tokio::test]
async fn tokens_page_shows_the_secret_once() {
    let app = TestApp::spawn().await;
    let mut b = Browser::new(&app);
    b.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let csrf = b.get("/tokens").await.csrf();
    let p = b
        .post(
            "/tokens",
            &[
                ("_csrf", &csrf),
                ("name", "新闻导入"),
                ("days", "30"),
                ("scopes", "read"),
                ("scopes", "write"),
            ],
        )
        .await;
    assert_eq!(p.status, 200);
    let marker = "id=\"new-token\">";
    let start = p.body.find(marker).expect("secret shown") + marker.len();
    let secret = &p.body[start..start + 67];
    assert!(secret.starts_with("cx_"), "{secret}");
    let (s, me) = app.get("/api/v1/me", secret).await;
    assert_eq!(s, 200);
    assert_eq!(me["scopes"], serde_json::json!(["read", "write"]));
    let again = b.get("/tokens").await;
    assert!(
        !again.body.contains(secret),
        "the secret is never shown again"
    );
    assert!(again.body.contains("新闻导入"));
    app.stop().await;
}

#[tokio::test]
async fn unreadable_forms_get_error_pages() {
    let app = TestApp::spawn_with(|s| s.server.body_limit_bytes = 64 * 1024).await;
    let post = |ctype: &'static str, body: Vec<u8>| {
        app.http
            .post(app.url("/login"))
            .header("content-type", ctype)
            .body(body)
            .send()
    };
    let res = post("text/plain", b"email=a".to_vec()).await.expect("send");
    assert_eq!(res.status(), 415);
    assert!(res.text().await.expect("text").contains("不支持的请求格式"));
    let big = format!("email={}", "x".repeat(100 * 1024)).into_bytes();
    let res = post("application/x-www-form-urlencoded", big)
        .await
        .expect("send");
    assert_eq!(res.status(), 413);
    assert!(res.text().await.expect("text").contains("提交的内容太大"));
    app.stop().await;
}

#[tokio::test]
async fn only_contributors_get_the_upload_page() {
    let app = TestApp::spawn().await;
    let w = World::seed(&app).await;
    for (who, status) in [
        ("editor@a", 200),
        ("station_admin@a", 200),
        ("viewer@a", 403),
        ("hub_admin", 403),
    ] {
        let mut b = Browser::new(&app);
        let email = w.user(who).email.clone();
        let password = if who == "hub_admin" {
            ADMIN_PASSWORD
        } else {
            PASSWORD
        };
        b.sign_in(&email, password).await;
        let page = b.get("/upload").await;
        assert_eq!(page.status, status, "{who}");
        let home = b.get("/").await;
        assert_eq!(
            home.body.contains("href=\"/upload\""),
            status == 200,
            "{who}: the link shows only to contributors"
        );
    }
    // An item page of another station is not found.
    let mut b = Browser::new(&app);
    b.sign_in(&w.user("editor@b").email, PASSWORD).await;
    assert_eq!(b.get("/items/not-an-id").await.status, 404);
    assert_eq!(
        b.get(&format!("/items/{}", cityx_core::AssetId::new()))
            .await
            .status,
        404
    );
    app.stop().await;
}

#[tokio::test]
async fn editors_delete_and_restore_items_from_their_page() {
    let app = TestApp::spawn_with(|s| s.jobs.enabled = false).await;
    let w = World::seed(&app).await;
    let id = app.small_item(&w.user("editor@a").token, b"abc").await;
    let page = format!("/items/{id}");

    let mut viewer = Browser::new(&app);
    viewer.sign_in(&w.user("viewer@a").email, PASSWORD).await;
    let seen = viewer.get(&page).await;
    assert!(
        !seen.body.contains("delete-item"),
        "viewers get no delete button"
    );
    let csrf = seen.csrf();
    let refused = viewer
        .post(&format!("{page}/delete"), &[("_csrf", &csrf)])
        .await;
    assert_eq!(refused.status, 403);

    let mut b = Browser::new(&app);
    b.sign_in(&w.user("editor@a").email, PASSWORD).await;
    let item = b.get(&page).await;
    assert!(item.body.contains("id=\"delete-item\""), "{}", item.body);
    let csrf = item.csrf();
    let forged = b
        .post(&format!("{page}/delete"), &[("_csrf", "0000")])
        .await;
    assert_eq!(forged.status, 403);
    let done = b.post(&format!("{page}/delete"), &[("_csrf", &csrf)]).await;
    assert_eq!(
        (done.status, done.location.as_str()),
        (303, format!("{page}?done=item_deleted").as_str())
    );
    let deleted = b.get(&done.location).await;
    assert!(
        deleted.body.contains("素材已删除，宽限期内可以恢复"),
        "{}",
        deleted.body
    );
    assert!(deleted.body.contains("id=\"deleted-notice\""));
    assert!(!deleted.body.contains("id=\"delete-item\""));
    let back = b
        .post(&format!("{page}/restore"), &[("_csrf", &csrf)])
        .await;
    assert_eq!(back.location, format!("{page}?done=item_restored"));
    let restored = b.get(&page).await;
    assert!(!restored.body.contains("deleted-notice"));
    app.stop().await;
}

#[tokio::test]
async fn the_upload_page_imports_by_link_and_explains_refusals() {
    let app = TestApp::spawn_with(|s| s.jobs.enabled = false).await;
    let w = World::seed(&app).await;
    let mut b = Browser::new(&app);
    b.sign_in(&w.user("editor@a").email, PASSWORD).await;
    let page = b.get("/upload").await;
    assert!(page.body.contains("id=\"import-form\""));
    let csrf = page.csrf();
    let refused = b
        .post(
            "/upload/import",
            &[
                ("_csrf", &csrf),
                ("url", "http://10.1.2.3/新闻.mp4"),
                ("title", "内网"),
            ],
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(
        refused.body.contains("链接：指向非公网地址"),
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("value=\"内网\""),
        "the form keeps what was typed"
    );
    // A public address is accepted (the fetch itself runs as a job; jobs are off here).
    let started = b
        .post(
            "/upload/import",
            &[("_csrf", &csrf), ("url", "http://93.184.215.14/clip.mp4")],
        )
        .await;
    assert_eq!(started.status, 303, "{}", started.body);
    assert!(
        started.location.ends_with("?done=import_started"),
        "{}",
        started.location
    );
    let item = b.get(&started.location).await;
    assert!(
        item.body.contains("http://93.184.215.14/clip.mp4"),
        "the source shows"
    );
    assert!(item.body.contains("已开始导入"));
    app.stop().await;
}

#[tokio::test]
async fn stations_find_adopt_and_credit_items_in_the_browser() {
    let app = TestApp::spawn_with(|s| s.jobs.enabled = false).await;
    let w = World::seed(&app).await;
    let id = app
        .item_with(
            &w.user("editor@a").token,
            &[
                ("title", "暴雨致城区内涝 消防转移群众"),
                ("summary", "杭州多个城区出现内涝"),
            ],
        )
        .await;
    app.finish_pending().await;
    app.search_until(&w.user("editor@b").token, "q=%E5%86%85%E6%B6%9D", |b| {
        b["total"] == 1
    })
    .await;

    // Station B searches in Chinese, narrows by a facet, and opens the item.
    let mut b = Browser::new(&app);
    b.sign_in(&w.user("editor@b").email, PASSWORD).await;
    let found = b.get("/exchange?q=%E5%86%85%E6%B6%9D").await;
    assert_eq!(found.status, 200);
    assert!(found.body.contains("<mark>内涝</mark>"), "{}", found.body);
    assert!(found.body.contains(&format!("href=\"/items/{id}\"")));
    assert!(found.body.contains("甲电视台"), "the contributor is named");
    let empty = b.get("/exchange?q=%E5%86%85%E6%B6%9D&qc=fail").await;
    assert!(empty.body.contains("没有找到符合条件的素材"));
    let bad = b.get("/exchange?from=yesterday").await;
    assert!(bad.body.contains("起始日期：格式不正确"), "{}", bad.body);

    let page = format!("/items/{id}");
    let item = b.get(&page).await;
    assert!(item.body.contains("id=\"adopt-button\""));
    assert!(
        !item.body.contains("id=\"save-rights\""),
        "not B's rights to set"
    );
    assert!(
        !item.body.contains("id=\"delete-item\""),
        "not B's to delete"
    );
    let csrf = item.csrf();
    let adopted = b
        .post(
            &format!("{page}/adopt"),
            &[
                ("_csrf", &csrf),
                ("rendition", "master"),
                ("purpose", "午间新闻"),
            ],
        )
        .await;
    assert_eq!(adopted.location, format!("{page}?done=adopted#adopt"));
    let after = b.get(&format!("{page}?done=adopted")).await;
    assert!(after.body.contains("data-download=\"master\""));
    let dl = b
        .post(
            &format!("{page}/download"),
            &[("_csrf", &csrf), ("rendition", "master")],
        )
        .await;
    assert_eq!(dl.status, 303);
    assert!(
        dl.location
            .starts_with(&format!("/api/v1/downloads/{id}/master?exp="))
    );
    let file = app
        .http
        .get(app.url(&dl.location))
        .send()
        .await
        .expect("download");
    assert_eq!(file.status(), 200);

    // Station A sees the credit on the item and in its ledger, and sets rights.
    let mut a = Browser::new(&app);
    a.sign_in(&w.user("editor@a").email, PASSWORD).await;
    let own = a.get(&page).await;
    assert!(own.body.contains("id=\"save-rights\""));
    assert!(!own.body.contains("id=\"adopt-button\""));
    assert!(
        own.body.contains("午间新闻") && own.body.contains("乙电视台"),
        "credits"
    );
    let ledger = a.get("/adoptions").await;
    assert!(ledger.body.contains("暴雨致城区内涝") && ledger.body.contains("乙电视台"));
    let csrf = own.csrf();
    let saved = a
        .post(
            &format!("{page}/rights"),
            &[
                ("_csrf", &csrf),
                ("visibility", "stations"),
                ("shared_with", "stb"),
                ("embargo_until", "2099-01-01T08:00"),
                ("licence", "仅限新闻节目使用"),
            ],
        )
        .await;
    assert_eq!(saved.location, format!("{page}?done=rights_saved#rights"));
    let (_, json) = app
        .get(&format!("/api/v1/assets/{id}"), &w.user("editor@a").token)
        .await;
    assert_eq!(json["visibility"], "stations");
    assert_eq!(json["shared_with"], serde_json::json!([w.id_b()]));
    assert_eq!(json["embargo_until"], "2099-01-01T00:00:00Z");
    // Under embargo, B may preview but the page says it cannot adopt.
    let later = b.get(&page).await;
    assert!(later.body.contains("尚在禁发期内"), "{}", later.body);
    app.stop().await;
}

#[tokio::test]
async fn contributors_withdraw_adopters_acknowledge_and_the_hub_sees_it_in_pages() {
    let app = TestApp::spawn_with(|s| s.jobs.enabled = false).await;
    let w = World::seed(&app).await;
    let id = app
        .item_with(&w.user("editor@a").token, &[("title", "大桥合龙仪式")])
        .await;
    app.finish_pending().await;
    let page = format!("/items/{id}");
    let mut b = Browser::new(&app);
    b.sign_in(&w.user("editor@b").email, PASSWORD).await;
    let item = b.get(&page).await;
    // An item belongs to the exchange in the menu; live is in the menu now that it exists.
    assert!(
        item.body
            .contains("href=\"/exchange\" aria-current=\"page\"")
    );
    assert!(
        !item.body.contains("href=\"/upload\" aria-current")
            && item.body.contains("href=\"/live\">")
    );
    assert!(
        !item.body.contains("id=\"withdraw-form\""),
        "not B's to withdraw"
    );
    let csrf = item.csrf();
    b.post(
        &format!("{page}/adopt"),
        &[("_csrf", &csrf), ("rendition", "library")],
    )
    .await;

    // A corrects (a bad form shows the reason in Chinese), then withdraws.
    let mut a = Browser::new(&app);
    a.sign_in(&w.user("editor@a").email, PASSWORD).await;
    let own = a.get(&page).await;
    assert!(own.body.contains("id=\"correct-form\"") && own.body.contains("id=\"withdraw-form\""));
    let csrf_a = own.csrf();
    let refused = a
        .post(
            &format!("{page}/correct"),
            &[("_csrf", &csrf_a), ("title", "大桥合龙"), ("note", "")],
        )
        .await;
    assert!(refused.body.contains("更正说明：必填"), "{}", refused.body);
    let fixed = a
        .post(
            &format!("{page}/correct"),
            &[
                ("_csrf", &csrf_a),
                ("title", "跨江大桥合龙仪式"),
                ("note", "桥名更正"),
            ],
        )
        .await;
    assert_eq!(fixed.location, format!("{page}?done=corrected#manage"));
    let gone = a
        .post(
            &format!("{page}/withdraw"),
            &[("_csrf", &csrf_a), ("reason", "版权争议")],
        )
        .await;
    assert_eq!(gone.location, format!("{page}?done=withdrawn"));
    let after = a.get(&page).await;
    assert!(!after.body.contains("id=\"withdraw-form\""));
    assert!(after.body.contains("乙电视台") && after.body.contains("未确认"));
    // Withdrawn, said as such with the reason, and nothing left to play.
    assert!(
        after.body.contains("已撤回：") && after.body.contains("版权争议"),
        "{}",
        after.body
    );
    assert!(!after.body.contains("处理失败") && !after.body.contains("id=\"player\""));

    // B, which adopted it, still opens the item's address: the withdrawal, its reason and
    // what to do, the acknowledgement, and nothing to play or download.
    let gone_for_b = b.get(&page).await;
    assert_eq!(gone_for_b.status, 200, "{}", gone_for_b.body);
    for part in [
        "id=\"tombstone\"",
        "已撤回",
        "版权争议",
        "立即停播",
        "确认收到",
    ] {
        assert!(
            gone_for_b.body.contains(part),
            "{part}: {}",
            gone_for_b.body
        );
    }
    assert!(!gone_for_b.body.contains("id=\"player\"") && !gone_for_b.body.contains("/download"));

    // B's navigation counts two open notices; B acknowledges them on the notices page.
    let home = b.get("/").await;
    assert!(
        home.body.contains("title=\"待确认的通知\">2</span>"),
        "{}",
        home.body
    );
    let notices = b.get("/notices").await;
    assert!(notices.body.contains("版权争议") && notices.body.contains("桥名更正"));
    let ids: Vec<String> = notices
        .body
        .split("data-ack=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(ids.len(), 2);
    let csrf_b = notices.csrf();
    for n in &ids {
        let done = b
            .post(&format!("/notices/{n}/ack"), &[("_csrf", &csrf_b)])
            .await;
        assert_eq!(done.location, "/notices?done=acknowledged");
    }
    let home = b.get("/").await;
    assert!(!home.body.contains("class=\"count\""));
    let after = a.get(&page).await;
    assert!(!after.body.contains("未确认"), "A sees both acknowledged");

    // The hub sees every notice and the statistics, with a chart, a map and CSV links;
    // a station does not get the statistics.
    let mut hub = Browser::new(&app);
    hub.sign_in(cityx_testkit::ADMIN_EMAIL, cityx_testkit::ADMIN_PASSWORD)
        .await;
    let all = hub.get("/notices").await;
    assert_eq!(all.body.matches("data-notice=").count(), 2);
    let stats = hub.get("/analytics").await;
    assert_eq!(stats.status, 200);
    for part in [
        "id=\"daily-chart\"",
        "id=\"province-map\"",
        "id=\"league\"",
        "甲电视台",
        "table=stations",
    ] {
        assert!(stats.body.contains(part), "{part}");
    }
    assert!(
        stats
            .body
            .contains("<p class=\"figure\" id=\"total-adoptions\">1</p>")
    );
    let csv = hub.get("/analytics/export?table=cities").await;
    assert_eq!(csv.status, 200);
    assert!(
        csv.body
            .starts_with("\u{feff}名称,台数,供稿数,采用他台数,被采用数"),
        "the page's CSV speaks the page's language: {}",
        csv.body
    );
    assert!(stats.body.contains("统计口径"), "the figures are defined");
    let bad = hub.get("/analytics?from=2026-02-30").await;
    assert!(bad.body.contains("起始日期：格式不正确"), "{}", bad.body);
    let denied = b.get("/analytics").await;
    assert_eq!(denied.status, 403);
    app.stop().await;
}

#[tokio::test]
async fn station_admins_add_webhooks_and_read_their_deliveries_in_pages() {
    let app = TestApp::spawn_with(|s| {
        s.jobs.enabled = false;
        s.fetch.allow_cidrs = vec!["127.0.0.1/32".into()];
    })
    .await;
    let w = World::seed(&app).await;
    let mut editor = Browser::new(&app);
    editor.sign_in(&w.user("editor@b").email, PASSWORD).await;
    assert!(!editor.get("/").await.body.contains("href=\"/webhooks\""));
    assert_eq!(editor.get("/webhooks").await.status, 403);

    let mut b = Browser::new(&app);
    b.sign_in(&w.user("station_admin@b").email, PASSWORD).await;
    let list = b.get("/webhooks").await;
    assert!(list.body.contains("href=\"/webhooks\"") && list.body.contains("还没有登记推送地址"));
    let csrf = list.csrf();
    // A private address is refused with the reason in Chinese, and the form keeps its input.
    let refused = b
        .post(
            "/webhooks",
            &[
                ("_csrf", &csrf),
                ("url", "http://192.168.1.20/hook"),
                ("kinds", "notice.created"),
            ],
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(
        refused.body.contains("链接：指向非公网地址"),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("value=\"http://192.168.1.20/hook\""));
    let made = b
        .post(
            "/webhooks",
            &[
                ("_csrf", &csrf),
                ("url", "http://127.0.0.1:9/乙台"),
                ("kinds", "item.published"),
                ("kinds", "notice.created"),
            ],
        )
        .await;
    assert_eq!(made.status, 200, "{}", made.body);
    let marker = "id=\"new-secret\">";
    let start = made.body.find(marker).expect("secret shown") + marker.len();
    let secret = made.body[start..]
        .split('<')
        .next()
        .unwrap_or_default()
        .to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert!(made.body.contains("新素材发布 · 更正/撤回通知"));
    let again = b.get("/webhooks").await;
    assert!(!again.body.contains(&secret), "the secret is shown once");

    // A publishes; B's log shows the waiting delivery.
    app.item_with(&w.user("editor@a").token, &[("title", "城市马拉松开跑")])
        .await;
    app.finish_pending().await;
    let (_, hooks) = app
        .get("/api/v1/webhooks", &w.user("station_admin@b").token)
        .await;
    let hook = hooks["items"][0]["id"].as_str().expect("id").to_owned();
    // The webhooks' event subscriber makes the delivery within a moment.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let log = loop {
        let log = b.get(&format!("/webhooks/{hook}")).await;
        if log.body.contains("待发送") || std::time::Instant::now() > deadline {
            break log;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(log.status, 200);
    assert!(
        log.body.contains("新素材发布") && log.body.contains("待发送"),
        "{}",
        log.body
    );

    // Another station's admin gets "not found"; B deletes it.
    let mut a = Browser::new(&app);
    a.sign_in(&w.user("station_admin@a").email, PASSWORD).await;
    let foreign = a.get(&format!("/webhooks/{hook}")).await;
    assert_eq!(foreign.status, 404);
    assert!(foreign.body.contains("找不到这个推送地址"));
    let gone = b
        .post(&format!("/webhooks/{hook}/delete"), &[("_csrf", &csrf)])
        .await;
    assert_eq!(gone.location, "/webhooks?done=webhook_deleted");
    assert!(
        b.get("/webhooks?done=webhook_deleted")
            .await
            .body
            .contains("推送地址已删除")
    );
    app.stop().await;
}

#[tokio::test]
async fn editors_follow_from_pages_and_open_what_is_new() {
    let app = TestApp::spawn_with(|s| s.jobs.enabled = false).await;
    let w = World::seed(&app).await;
    let (_, z) = app
        .post(
            "/api/v1/zones",
            &app.admin_token,
            serde_json::json!({ "title": "春运专区", "starts_on": cityx_testkit::date_in(-1), "ends_on": cityx_testkit::date_in(30) }),
        )
        .await;
    let zone = z["id"].as_str().expect("zone").to_owned();
    let mut b = Browser::new(&app);
    b.sign_in(&w.user("editor@b").email, PASSWORD).await;
    let page = b.get("/follows").await;
    assert!(page.body.contains("还没有关注任何内容"));
    // A search offers to follow its words.
    let search = b.get("/exchange?q=%E6%98%A5%E8%BF%90").await;
    assert!(
        search.body.contains(r#"id="follow-search""#)
            && search.body.contains(r#"name="target" value="春运""#),
        "{}",
        search.body
    );
    assert!(!b.get("/exchange").await.body.contains("follow-search"));
    let csrf = page.csrf();
    let done = b
        .post(
            "/follows",
            &[("_csrf", &csrf), ("kind", "keyword"), ("target", "春运")],
        )
        .await;
    assert_eq!(done.location, "/follows?done=followed");
    let refused = b
        .post(
            "/follows",
            &[("_csrf", &csrf), ("kind", "keyword"), ("target", "春运")],
        )
        .await;
    assert!(
        refused.body.contains("关注对象：已经关注过了"),
        "{}",
        refused.body
    );
    let zp = b.get(&format!("/zones/{zone}")).await;
    assert!(zp.body.contains("关注此专区"));
    let back = b
        .post(
            "/follows",
            &[
                ("_csrf", &csrf),
                ("kind", "zone"),
                ("target", &zone),
                ("back", &format!("/zones/{zone}")),
            ],
        )
        .await;
    assert_eq!(back.location, format!("/zones/{zone}?done=followed"));

    let id = app
        .item_with(&w.user("editor@a").token, &[("title", "春运首日 车站客流")])
        .await;
    app.finish_pending().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let page = loop {
        let p = b.get("/follows").await;
        if p.body.contains(&format!("/items/{id}")) {
            break p;
        }
        assert!(std::time::Instant::now() < deadline, "{}", p.body);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(page.body.contains("春运首日 车站客流") && page.body.contains("春运专区"));
    assert!(
        page.body.contains("title=\"条新素材\">1</span>"),
        "{}",
        page.body
    );
    let (_, follows) = app.get("/api/v1/follows", &w.user("editor@b").token).await;
    let kw = follows["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|f| f["follow"]["kind"] == "keyword")
        .expect("keyword")["follow"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let opened = b
        .post(&format!("/follows/{kw}/open"), &[("_csrf", &csrf)])
        .await;
    assert_eq!(
        opened.location,
        "/exchange?q=%E6%98%A5%E8%BF%90&sort=newest"
    );
    let after = b.get("/follows").await;
    assert_eq!(
        after.body.matches("title=\"条新素材\"").count(),
        0,
        "the keyword was seen; the zone has no items"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_hub_edits_a_zone_on_its_page() {
    let app = TestApp::spawn_with(|s| s.jobs.enabled = false).await;
    let w = World::seed(&app).await;
    let (_, z) = app
        .post(
            "/api/v1/zones",
            &app.admin_token,
            serde_json::json!({ "title": "春运专区", "starts_on": cityx_testkit::date_in(-1),
                "ends_on": cityx_testkit::date_in(30),
                "invited": [{"station_id": w.id_a(), "target": 2}] }),
        )
        .await;
    let zone = z["id"].as_str().expect("zone").to_owned();
    let path = format!("/zones/{zone}");
    let mut hub = Browser::new(&app);
    hub.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let page = hub.get(&path).await;
    assert!(page.body.contains(r#"id="edit-zone""#), "{}", page.body);
    assert!(
        page.body.contains(&format!(
            r#"name="invite_{}" value="1" data-code="#,
            w.id_a()
        )) && page.body.contains(" checked>"),
        "the form starts from the zone: {}",
        page.body
    );
    let csrf = page.csrf();
    let (a, b) = (w.id_a().to_string(), w.id_b().to_string());
    let (starts, ends) = (cityx_testkit::date_in(-1), cityx_testkit::date_in(10));
    let form = |title: &'static str, ends_on: String| {
        vec![
            ("_csrf".to_owned(), csrf.clone()),
            ("title".to_owned(), title.to_owned()),
            ("brief".to_owned(), "返乡路上的故事".to_owned()),
            ("cover_asset_id".to_owned(), String::new()),
            ("starts_on".to_owned(), starts.clone()),
            ("ends_on".to_owned(), ends_on),
            (format!("invite_{b}"), "1".to_owned()),
            (format!("target_{b}"), "3".to_owned()),
            (format!("target_{a}"), "2".to_owned()),
        ]
    };
    // A window that ends before it starts: an error in Chinese, nothing changed.
    let bad = form("春运专区 改", cityx_testkit::date_in(-5));
    let refused = hub.post(&format!("{path}/edit"), &pairs(&bad)).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused.body.contains("结束日期：早于开始日期"),
        "{}",
        refused.body
    );
    assert_eq!(
        refused.body.matches("结束日期：早于开始日期").count(),
        1,
        "said once"
    );
    assert!(
        refused.body.contains("id=\"main-nav\"")
            && refused.body.contains("value=\"春运专区 改\"")
            && refused
                .body
                .contains("<details class=\"card\" id=\"edit-zone\" open>"),
        "the zone's page again, with the form open as it was typed: {}",
        refused.body
    );
    let (_, still) = app
        .get(&format!("/api/v1/zones/{zone}"), &app.admin_token)
        .await;
    assert_eq!(still["zone"]["title"], "春运专区", "{still}");
    let good = form("春运专区（更新）", ends);
    let done = hub.post(&format!("{path}/edit"), &pairs(&good)).await;
    assert_eq!(
        done.location,
        format!("{path}?done=zone_updated"),
        "{}",
        done.body
    );
    let (_, changed) = app
        .get(&format!("/api/v1/zones/{zone}"), &app.admin_token)
        .await;
    assert_eq!(changed["zone"]["title"], "春运专区（更新）", "{changed}");
    assert_eq!(changed["zone"]["brief"], "返乡路上的故事");
    let invited: Vec<(String, i64)> = changed["zone"]["invited"]
        .as_array()
        .expect("invited")
        .iter()
        .map(|i| {
            (
                i["station_id"].as_str().unwrap_or_default().to_owned(),
                i["target"].as_i64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(invited, [(b.clone(), 3)], "unticked A left, B came");
    // B is told: in its feed (and so its webhooks) and on its notices page.
    let eb = w.user("editor@b").token.clone();
    let (_, feed) = app.get("/api/v1/feed", &eb).await;
    let told: Vec<&serde_json::Value> = feed["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"] == "zone.invited")
        .collect();
    assert_eq!(told.len(), 1, "{feed}");
    assert_eq!(
        (
            told[0]["data"]["zone_id"].as_str(),
            told[0]["data"]["target"].as_i64()
        ),
        (Some(zone.as_str()), Some(3))
    );
    let (_, feed_a) = app.get("/api/v1/feed", &w.user("editor@a").token).await;
    let told_a = feed_a["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"] == "zone.invited")
        .count();
    assert_eq!(
        told_a, 1,
        "A was told once, when the zone was made: {feed_a}"
    );
    let mut b_page = Browser::new(&app);
    b_page.sign_in(&w.user("editor@b").email, PASSWORD).await;
    let notices = b_page.get("/notices").await;
    assert!(
        notices.body.contains("id=\"zone-invitations\"")
            && notices.body.contains("春运专区（更新）")
            && notices.body.contains("0 / 3"),
        "{}",
        notices.body
    );
    assert!(
        hub.get(&format!("{path}?done=zone_updated"))
            .await
            .body
            .contains("专区已更新")
    );

    // A station sees no form, and its post is refused.
    let mut editor = Browser::new(&app);
    editor.sign_in(&w.user("editor@b").email, PASSWORD).await;
    let page = editor.get(&path).await;
    assert!(!page.body.contains("edit-zone"));
    let mut theirs = form("乙台改的", cityx_testkit::date_in(10));
    theirs[0].1 = page.csrf();
    assert_eq!(
        editor
            .post(&format!("{path}/edit"), &pairs(&theirs))
            .await
            .status,
        403
    );
    app.stop().await;
}

/// A form's owned pairs as the browser's post takes them.
fn pairs(f: &[(String, String)]) -> Vec<(&str, &str)> {
    f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

#[tokio::test]
async fn editors_keep_their_items_in_a_library_and_act_on_several_at_once() {
    let app = TestApp::spawn_with(|s| s.jobs.enabled = false).await;
    let w = World::seed(&app).await;
    let (ea, eb) = (
        w.user("editor@a").token.clone(),
        w.user("editor@b").token.clone(),
    );
    let ready = app.item_with(&ea, &[("title", "西湖音乐节")]).await;
    assert_eq!(app.finish_pending().await, 1);
    let first = app.small_item(&ea, b"one").await;
    let second = app.small_item(&ea, b"two").await;
    let theirs = app.small_item(&eb, b"three").await;

    let mut a = Browser::new(&app);
    a.sign_in(&w.user("editor@a").email, PASSWORD).await;
    let home = a.get("/").await;
    assert!(home.body.contains("id=\"nav-library\""), "the menu has it");
    let lib = a.get("/library").await;
    assert_eq!(lib.status, 200);
    for id in [&ready, &first, &second] {
        assert!(lib.body.contains(id.as_str()), "own item {id} listed");
    }
    assert!(
        !lib.body.contains(theirs.as_str()),
        "another station's item is not"
    );
    assert!(lib.body.contains("state-ready") && lib.body.contains("state-processing"));
    let processing = a.get("/library?state=processing").await;
    assert!(!processing.body.contains(ready.as_str()));
    assert!(processing.body.contains(first.as_str()));
    let by_title = a.get("/library?title=%E8%A5%BF%E6%B9%96").await;
    assert!(by_title.body.contains(ready.as_str()));
    assert!(!by_title.body.contains(first.as_str()));

    // Two of its own and one of another station's, deleted at once: two are, one is not.
    let csrf = lib.csrf();
    let done = a
        .post(
            "/library/bulk",
            &[
                ("_csrf", csrf.as_str()),
                ("action", "delete"),
                ("ids", first.as_str()),
                ("ids", second.as_str()),
                ("ids", theirs.as_str()),
            ],
        )
        .await;
    assert_eq!(done.status, 303);
    assert!(
        done.location.contains("did=delete&changed=2&refused=1"),
        "{}",
        done.location
    );
    let after = a.get(&done.location).await;
    assert!(
        after.body.contains("已删除：2 条；无法处理：1 条"),
        "{}",
        after.body
    );
    let deleted = a.get("/library?state=deleted").await;
    assert!(deleted.body.contains(first.as_str()) && deleted.body.contains(second.as_str()));
    let (s, still) = app.get(&format!("/api/v1/assets/{theirs}"), &eb).await;
    assert_eq!((s.as_u16(), still["deleted_at"].is_null()), (200, true));
    let back = a
        .post(
            "/library/bulk",
            &[
                ("_csrf", csrf.as_str()),
                ("action", "restore"),
                ("ids", first.as_str()),
            ],
        )
        .await;
    assert!(back.location.contains("did=restore&changed=1&refused=0"));
    let forged = a
        .post(
            "/library/bulk",
            &[
                ("_csrf", "0000"),
                ("action", "delete"),
                ("ids", second.as_str()),
            ],
        )
        .await;
    assert_eq!(forged.status, 403);

    // B adopts the ready item; A corrects it: the page says so with what changed, and B's
    // ledger marks it under the title it took.
    let (s, _) = app
        .post(
            &format!("/api/v1/assets/{ready}/adoptions"),
            &eb,
            serde_json::json!({"rendition": "proxy"}),
        )
        .await;
    assert_eq!(s, 201);
    let (s, fixed) = app
        .post(
            &format!("/api/v1/assets/{ready}/corrections"),
            &ea,
            serde_json::json!({"title": "西湖国际音乐节", "note": "活动名称更正"}),
        )
        .await;
    assert_eq!(s, 200, "{fixed}");
    let (s, history) = app
        .get(&format!("/api/v1/assets/{ready}/corrections"), &eb)
        .await;
    assert_eq!(s, 200);
    assert_eq!(history[0]["changes"][0]["field"], "title");
    assert_eq!(history[0]["changes"][0]["before"], "西湖音乐节");
    let page = a.get(&format!("/items/{ready}")).await;
    assert!(
        page.body.contains("id=\"corrected-banner\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("活动名称更正"));
    assert!(
        page.body.contains("<del>西湖音乐节</del>")
            && page.body.contains("<ins>西湖国际音乐节</ins>")
    );
    let mut b = Browser::new(&app);
    b.sign_in(&w.user("editor@b").email, PASSWORD).await;
    let ledger = b.get("/adoptions?all=made").await;
    assert!(ledger.body.contains("mark-corrected"), "{}", ledger.body);
    assert!(ledger.body.contains("现标题：西湖国际音乐节"));
    // The audit log names items by their titles, linked, not by their ids.
    let mut sa = Browser::new(&app);
    sa.sign_in(&w.user("station_admin@a").email, PASSWORD).await;
    let audit = sa.get("/audit").await;
    assert!(
        audit.body.contains(&format!(
            "<a href=\"/items/{ready}\">「西湖国际音乐节」</a>"
        )),
        "{}",
        audit.body
    );
    app.stop().await;
}

#[tokio::test]
async fn item_forms_come_back_with_their_mistakes_and_what_was_typed() {
    let app = TestApp::spawn_with(|s| s.jobs.enabled = false).await;
    let w = World::seed(&app).await;
    let ea = w.user("editor@a").token.clone();
    let id = app.item_with(&ea, &[("title", "台风登陆")]).await;
    assert_eq!(app.finish_pending().await, 1);
    let page = format!("/items/{id}");
    let mut a = Browser::new(&app);
    a.sign_in(&w.user("editor@a").email, PASSWORD).await;
    let csrf = a.get(&page).await.csrf();

    // An unknown station code: said once, naming it, with what was typed kept.
    let refused = a
        .post(
            &format!("{page}/rights"),
            &[
                ("_csrf", csrf.as_str()),
                ("visibility", "stations"),
                ("shared_with", "stb, nosuch"),
                ("embargo_until", ""),
                ("licence", "仅限新闻使用"),
            ],
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert_eq!(
        refused.body.matches("role=\"alert\"").count(),
        1,
        "one message: {}",
        refused.body
    );
    assert!(refused.body.contains("nosuch"), "{}", refused.body);
    assert!(refused.body.contains("value=\"stb, nosuch\""));
    assert!(refused.body.contains("value=\"仅限新闻使用\""));
    assert!(
        refused
            .body
            .contains("<option value=\"stations\" selected>")
    );
    assert!(
        refused.body.contains("id=\"main-nav\""),
        "the page, not a bare error"
    );
    let (_, item) = app.get(&format!("/api/v1/assets/{id}"), &ea).await;
    assert_eq!(item["visibility"], "exchange", "nothing changed");

    // A correction that changes nothing keeps its note and opens its form.
    let fix = a
        .post(
            &format!("{page}/correct"),
            &[
                ("_csrf", csrf.as_str()),
                ("title", "台风登陆"),
                ("note", "核对无误"),
            ],
        )
        .await;
    assert_eq!(fix.status, 422);
    assert!(fix.body.contains("没有任何改动"), "{}", fix.body);
    assert!(fix.body.contains("value=\"核对无误\""));
    let ok = a
        .post(
            &format!("{page}/correct"),
            &[
                ("_csrf", csrf.as_str()),
                ("title", "台风“海葵”登陆"),
                ("note", "补充台风名称"),
            ],
        )
        .await;
    assert_eq!(ok.location, format!("{page}?done=corrected#manage"));

    // Another station's adoption with a purpose that cannot be kept: the item page again,
    // the take and the purpose as chosen.
    let mut b = Browser::new(&app);
    b.sign_in(&w.user("editor@b").email, PASSWORD).await;
    let csrf_b = b.get(&page).await.csrf();
    let purpose = "晚间新闻\u{202E}";
    let refused = b
        .post(
            &format!("{page}/adopt"),
            &[
                ("_csrf", csrf_b.as_str()),
                ("rendition", "library"),
                ("purpose", purpose),
            ],
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.body.contains("id=\"adopt-form\""));
    assert!(
        refused.body.contains(&format!("value=\"{purpose}\"")),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("value=\"library\" checked"));
    let (_, ledger) = app
        .get(
            "/api/v1/adoptions?direction=made",
            &w.user("editor@b").token,
        )
        .await;
    assert_eq!(ledger["items"], serde_json::json!([]), "nothing adopted");

    // A keyword too long to follow: the follows page again with the keyword as typed.
    let long = "台风".repeat(30);
    let follows = b.get("/follows").await;
    let refused = b
        .post(
            "/follows",
            &[
                ("_csrf", follows.csrf().as_str()),
                ("kind", "keyword"),
                ("target", long.as_str()),
            ],
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.body.contains("role=\"alert\""));
    assert!(refused.body.contains(&format!("value=\"{long}\"")));
    app.stop().await;
}

/// The channel page's SRT passphrase form: a mistake comes back on the page in Chinese, and
/// a saved passphrase goes back to the channel's page (a reload sends nothing again), which
/// shows only its last characters.
#[tokio::test]
async fn the_srt_passphrase_form_saves_and_comes_back_with_its_mistakes() {
    let app = TestApp::spawn().await;
    let w = World::seed(&app).await;
    let (_, made) = app
        .post(
            "/api/v1/channels",
            &w.user("station_admin@a").token,
            serde_json::json!({ "name": "口令频道" }),
        )
        .await;
    let id = made["channel"]["id"].as_str().expect("id").to_owned();
    let mut b = Browser::new(&app);
    b.sign_in(&w.user("station_admin@a").email, PASSWORD).await;
    let page = b.get(&format!("/live/{id}")).await;
    assert!(
        page.body.contains("SRT 加密口令"),
        "the form is on the page"
    );
    let csrf = page.csrf();
    let path = format!("/live/{id}/srt-passphrase");
    let bad = b
        .post(&path, &[("_csrf", &csrf), ("passphrase", "short")])
        .await;
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("SRT 加密口令"), "{}", bad.body);
    let saved = b
        .post(
            &path,
            &[("_csrf", &csrf), ("passphrase", "a-good-passphrase-42")],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    assert_eq!(
        saved.location,
        format!("/live/{id}?done=channel_passphrase_set#srt-passphrase")
    );
    let shown = b.get(&saved.location).await;
    assert!(shown.body.contains("已设置 SRT 加密口令"), "the notice");
    assert!(shown.body.contains("…e-42") && !shown.body.contains("a-good-passphrase-42"));
    // The audit log names the channel and links to it, not its id.
    let audit = b.get("/audit").await;
    assert!(
        audit
            .body
            .contains(&format!("<a href=\"/live/{id}\">「口令频道」</a>")),
        "{}",
        audit.body
    );
}

/// The channel form shares a channel with stations named by their codes: a code that is no
/// station's comes back named, with what was typed kept and nothing made; named ones may
/// watch, others may not, and the form shows the codes again.
#[tokio::test]
async fn the_channel_form_shares_with_named_stations() {
    let app = TestApp::spawn().await;
    let w = World::seed(&app).await;
    let mut b = Browser::new(&app);
    b.sign_in(&w.user("station_admin@a").email, PASSWORD).await;
    let wall = b.get("/live").await;
    assert!(
        wall.body.contains("指定电视台代码"),
        "the field is on the form"
    );
    let csrf = wall.csrf();
    let form = |shared: &'static str| {
        vec![
            ("_csrf", csrf.clone()),
            ("name", "联播频道".to_owned()),
            ("visibility", "stations".to_owned()),
            ("shared_with", shared.to_owned()),
        ]
    };
    let typo = form("stb, NOSUCH");
    let refused = b.post("/live", &as_refs(&typo)).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused.body.contains("包含不存在的电视台：NOSUCH"),
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("value=\"stb, NOSUCH\""),
        "kept as typed"
    );
    let (_, none) = app
        .get("/api/v1/channels", &w.user("station_admin@a").token)
        .await;
    assert_eq!(none["items"], serde_json::json!([]), "nothing made");

    let named = form("stb");
    let made = b.post("/live", &as_refs(&named)).await;
    assert_eq!(made.status, 200, "{}", made.body);
    let (_, list) = app
        .get("/api/v1/channels", &w.user("station_admin@a").token)
        .await;
    let made = &list["items"][0]["channel"];
    let id = made["id"].as_str().expect("made").to_owned();
    assert_eq!(made["visibility"], "stations");
    assert_eq!(made["shared_with"], serde_json::json!([w.b["id"]]));
    let (seen, _) = app
        .get(&format!("/api/v1/channels/{id}"), &w.user("viewer@b").token)
        .await;
    assert_eq!(seen.as_u16(), 200, "station B may watch");
    let page = b.get(&format!("/live/{id}")).await;
    assert!(
        page.body.contains("name=\"shared_with\"")
            && page.body.to_lowercase().contains("value=\"stb\""),
        "the form shows the codes"
    );
}

/// A restream target's change form on the channel page: an SRT target shows that it has a
/// passphrase (never the passphrase), an empty field keeps it, the box removes it; the
/// audit log names the target and leads to its channel.
#[tokio::test]
async fn the_target_form_keeps_and_removes_an_srt_passphrase() {
    // The partner is named on this machine: the operator allowed loopback.
    let app = TestApp::spawn_with(|s| s.fetch.allow_cidrs = vec!["127.0.0.0/8".into()]).await;
    let w = World::seed(&app).await;
    let token = w.user("station_admin@a").token.clone();
    let (_, made) = app
        .post(
            "/api/v1/channels",
            &token,
            serde_json::json!({ "name": "转推频道" }),
        )
        .await;
    let id = made["channel"]["id"].as_str().expect("id").to_owned();
    let (status, target) = app
        .post(
            &format!("/api/v1/channels/{id}/targets"),
            &token,
            serde_json::json!({
                "name": "省级平台", "url": "srt://127.0.0.1:9", "key": "#!::r=province-0042,m=publish",
                "passphrase": "province-srt-0042", "enabled": false
            }),
        )
        .await;
    assert_eq!(status.as_u16(), 201, "{target}");
    let target_id = target["id"].as_str().expect("target id").to_owned();
    let mut b = Browser::new(&app);
    b.sign_in(&w.user("station_admin@a").email, PASSWORD).await;
    let page = b.get(&format!("/live/{id}")).await;
    assert!(page.body.contains("已设加密口令"), "{}", page.body);
    assert!(page.body.contains("去掉加密口令"), "the box is offered");
    assert!(!page.body.contains("province-srt-0042"));
    let csrf = page.csrf();
    let path = format!("/live/{id}/targets/{target_id}");
    let target_now = || async {
        let (_, list) = app
            .get(&format!("/api/v1/channels/{id}/targets"), &token)
            .await;
        list["items"][0].clone()
    };
    // Renamed with the passphrase field left empty: the passphrase stays.
    let kept = b
        .post(
            &path,
            &[
                ("_csrf", csrf.as_str()),
                ("name", "省级平台二"),
                ("url", "srt://127.0.0.1:9"),
                ("passphrase", ""),
            ],
        )
        .await;
    assert_eq!(kept.status, 303, "{}", kept.body);
    let t = target_now().await;
    assert_eq!(t["name"], "省级平台二", "{t}");
    assert_eq!(t["has_passphrase"], true, "{t}");
    let removed = b
        .post(
            &path,
            &[
                ("_csrf", csrf.as_str()),
                ("name", "省级平台二"),
                ("url", "srt://127.0.0.1:9"),
                ("passphrase_clear", "1"),
            ],
        )
        .await;
    assert_eq!(removed.status, 303, "{}", removed.body);
    assert_eq!(target_now().await["has_passphrase"], false);
    let audit = b.get("/audit").await;
    assert!(
        audit
            .body
            .contains(&format!("<a href=\"/live/{id}#targets\">省级平台二</a>")),
        "{}",
        audit.body
    );
}

/// A form's fields as the test browser posts them.
fn as_refs<'a>(fields: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    fields.iter().map(|(k, v)| (*k, v.as_str())).collect()
}
