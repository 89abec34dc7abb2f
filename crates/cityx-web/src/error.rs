//! Errors as pages: the same codes as the API, in the reader's language.

use crate::i18n::T;
use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use cityx_http::error::{ApiError, ErrorCode};

#[derive(Debug)]
pub struct WebError {
    pub code: ErrorCode,
    pub t: T,
    pub retry_after: Option<u64>,
    /// What was wrong with each field of a refused form, translated.
    pub details: Vec<String>,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    t: T,
    status: u16,
    message: &'a str,
    code: &'a str,
    details: &'a [String],
}

impl WebError {
    pub fn code(code: ErrorCode, t: T) -> Self {
        WebError {
            code,
            t,
            retry_after: None,
            details: Vec::new(),
        }
    }

    pub fn app(e: cityx_app::Error, t: T) -> Self {
        let api = ApiError::from(e);
        let details = crate::pages::FormErrors::from_fields(t, &api.fields).messages;
        WebError {
            code: api.code,
            t,
            retry_after: api.retry_after,
            details,
        }
    }

    /// The translated message of this error.
    pub fn message(&self) -> String {
        self.t.get2("err.", self.code.as_str())
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let status = self.code.status();
        let message = self.message();
        let page = ErrorPage {
            t: self.t,
            status: status.as_u16(),
            message: &message,
            code: self.code.as_str(),
            details: &self.details,
        };
        let body = page.render().unwrap_or_else(|_| message.clone());
        let mut res = (status, Html(body)).into_response();
        if let Some(secs) = self.retry_after
            && let Ok(v) = secs.to_string().parse()
        {
            res.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
        }
        res
    }
}

/// Renders a template, turning a template failure into a logged 500 page.
pub fn render<P: Template>(page: &P, t: T, status: StatusCode) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "failed to render a page");
            WebError::code(ErrorCode::Internal, t).into_response()
        }
    }
}
