//! What every HTTP door of cityx shares, so that the JSON API (`cityx-api`), the web UI
//! (`cityx-web`) and a later public portal are peers rather than one importing another:
//! the state and the caller's extraction ([`http`]: `HttpState`, the bearer or session
//! caller, the client's address, cookies, extractors whose rejections speak the error
//! table, CSV answers), the one error-code table ([`error`]), the layers around every route
//! ([`middleware`]) and the interface text in Chinese and English ([`i18n`]).
//!
//! Depends on `cityx-app` (the use cases the state holds) and `cityx-core`, never on a door:
//! no routes, no pages, no handlers live here.

pub mod error;
pub mod http;
pub mod i18n;
pub mod middleware;
pub mod serve;
