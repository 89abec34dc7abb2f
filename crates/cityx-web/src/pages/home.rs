use super::Chrome;
use crate::error::render;
use crate::i18n::T;
use crate::session::{Reader, WebUser};
use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;

#[derive(Template)]
#[template(path = "home.html")]
struct Home {
    t: T,
    c: Chrome,
}

pub async fn home(u: WebUser) -> Response {
    let page = Home {
        t: u.t,
        c: Chrome::new(&u, "home", None),
    };
    render(&page, u.t, StatusCode::OK)
}

#[derive(Template)]
#[template(path = "api_docs.html")]
struct ApiDocs {
    t: T,
}

/// `/api/docs`: the API reference, public like the document it shows.
pub async fn api_docs(Reader(t): Reader) -> Response {
    render(&ApiDocs { t }, t, StatusCode::OK)
}
