//! Tests of the assembled application over HTTP: the permission matrix, bad input, sign-in
//! and tokens, the exchange, notices, the feed and statistics, topic zones, the web UI's
//! sessions and CSRF, webhooks, and the system endpoints.

mod auth;
mod bad_input;
mod exchange;
mod matrix;
mod notices;
mod system;
mod uploads;
mod web;
mod webhooks;
mod zones;
