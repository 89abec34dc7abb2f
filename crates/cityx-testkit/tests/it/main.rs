//! Tests of the assembled application over HTTP: the permission matrix, bad input, sign-in
//! and tokens, the web UI's sessions and CSRF, and the system endpoints.

mod auth;
mod bad_input;
mod exchange;
mod matrix;
mod system;
mod uploads;
mod web;
