//! Tests of the assembled application over HTTP: the permission matrix, bad input, sign-in
//! and tokens, the exchange, notices, the feed and statistics, topic zones, follows, the web UI's
//! sessions and CSRF, webhooks, and the system endpoints.

mod auth;
mod bad_input;
mod exchange;
mod follows;
mod live;
mod matrix;
mod media;
mod notices;
mod processes;
// The benches' ratio tables: bench targets have no test harness, so their unit tests run here.
#[path = "../../benches/common/ratios.rs"]
mod ratios;
mod system;
mod uploads;
mod visibility;
mod web;
mod webhooks;
mod zones;
