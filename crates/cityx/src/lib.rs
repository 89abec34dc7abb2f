//! The `cityx` binary's wiring: settings, the command line, start-up and shutdown, and the
//! operator's `cityx admin` commands. `main.rs` only parses the command line, sets up logging
//! and calls [`cli::run`].
//!
//! This is the one crate that knows every other crate; nothing depends on it except the
//! test kit, which starts real servers through [`server::start`].

pub mod admin;
pub mod cli;
pub mod server;
pub mod settings;

/// Sets up logging on stderr: human-readable text or one JSON object per line.
pub fn init_logging(settings: &settings::Settings) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.log.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if settings.log.format == "json" {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init();
    } else {
        builder.init();
    }
}
