use clap::Parser;
use std::process::ExitCode;

/// mimalloc rather than the system's allocator: the HTTP doors allocate and free small
/// buffers per request on every worker thread, where glibc's allocator spent an eighth of
/// the serving CPU (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cityx::cli::Cli::parse();
    let settings = if cityx::cli::needs_settings(&cli) {
        match cli.settings() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {e:#}");
                return ExitCode::from(2);
            }
        }
    } else {
        cityx::settings::Settings::default()
    };
    if matches!(cli.command, cityx::cli::Command::Serve(_)) {
        cityx::init_logging(&settings);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: failed to start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cityx::cli::run(cli, settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
