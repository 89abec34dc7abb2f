//! The command line: `cityx serve | migrate | admin … | config …`.

use crate::settings::{DEFAULT_CONFIG, Overrides, Settings};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "cityx",
    version,
    about = "cityx: the media exchange of the city TV stations' network"
)]
pub struct Cli {
    /// Configuration file (default: ./cityx.toml when it exists).
    #[arg(long, global = true, env = "CITYX_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory (overrides data.dir).
    #[arg(long, global = true, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Address to listen on (overrides server.listen).
    #[arg(long, global = true, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Log format: text or json (overrides log.format).
    #[arg(long, global = true, value_name = "FORMAT")]
    pub log_format: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the API, the web UI and the workers (or one of them, with --role).
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Operator commands: stations, users, tokens, dead jobs, the search index, checking
    /// and moving stored objects.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Show configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// What this process runs: all, api or worker (overrides server.role).
    #[arg(long, value_enum)]
    pub role: Option<crate::settings::Role>,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the documented defaults (the content of cityx.example.toml).
    Default,
    /// Load and validate the configuration, then print the effective values.
    Check,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    #[command(subcommand)]
    Station(StationCommand),
    #[command(subcommand)]
    User(UserCommand),
    #[command(subcommand)]
    Token(TokenCommand),
    #[command(subcommand)]
    Job(JobCommand),
    /// Rebuild the search index from the database. Stop `cityx serve` on this data
    /// directory first: the index has one writer.
    Reindex,
    /// Check every stored object against the database: masters present with the recorded
    /// size and SHA-256, every derived file and playlist segment present, no strays.
    /// Read-only; exits with status 1 when anything is wrong.
    Fsck {
        /// Compare sizes only, without reading every master whole.
        #[arg(long)]
        quick: bool,
    },
    #[command(subcommand)]
    Storage(StorageCommand),
}

#[derive(Debug, Subcommand)]
pub enum StorageCommand {
    /// Copy every item's objects to another store (内容迁移), each verified by SHA-256 read
    /// back from the destination. Resumable: a second run copies only what is new. Then
    /// point storage.url at the destination.
    #[command(group(clap::ArgGroup::new("destination").required(true).args(["to", "to_config"])))]
    Migrate {
        /// The destination's URL (file://PATH, or s3://BUCKET[/PREFIX] reached through the
        /// AWS_* environment variables).
        #[arg(long, value_name = "URL")]
        to: Option<String>,
        /// A configuration file whose [storage] section is the destination.
        #[arg(long, value_name = "FILE")]
        to_config: Option<PathBuf>,
        /// Where verified objects are recorded (default: DATA/storage-migrate.journal).
        #[arg(long, value_name = "FILE")]
        journal: Option<PathBuf>,
        /// Hash both sides of everything the destination already holds, ignoring the journal.
        #[arg(long)]
        recheck: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum JobCommand {
    /// List dead jobs (newest first) with the reason they gave up.
    Dead {
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Run a dead job again with fresh attempts; its item is processing again.
    Rerun {
        #[arg(long)]
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum StationCommand {
    /// Create a station.
    Create(StationArgs),
    /// List stations.
    List,
}

#[derive(Debug, Args)]
pub struct StationArgs {
    #[arg(long)]
    pub name: String,
    /// 2–32 lowercase letters, digits or hyphens.
    #[arg(long)]
    pub code: String,
    #[arg(long)]
    pub city: String,
    #[arg(long)]
    pub province: String,
    /// north, northeast, east, central, south, southwest or northwest.
    #[arg(long)]
    pub region: String,
    #[arg(long, default_value = "")]
    pub contact_name: String,
    #[arg(long, default_value = "")]
    pub contact_phone: String,
    #[arg(long, default_value = "")]
    pub contact_email: String,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; prints a generated password unless --password-stdin is given.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// hub_admin, hub_editor, station_admin, editor or viewer.
        #[arg(long)]
        role: String,
        /// Station code, for station roles.
        #[arg(long)]
        station: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List {
        /// Only this station's users (station code).
        #[arg(long)]
        station: Option<String>,
    },
    /// Change a user's role (within hub roles or within station roles).
    SetRole {
        #[arg(long)]
        email: String,
        #[arg(long)]
        role: String,
    },
    /// Disable a user: no sign-in, sessions ended, tokens refused.
    Disable {
        #[arg(long)]
        email: String,
    },
    /// Enable a disabled user.
    Enable {
        #[arg(long)]
        email: String,
    },
    /// Set a new password; prints a generated one unless --password-stdin is given.
    ResetPassword {
        #[arg(long)]
        email: String,
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token for a user and print its secret once.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// Comma-separated: read, write, admin.
        #[arg(long, default_value = "read")]
        scopes: String,
        /// Lifetime in days (default auth.api_token_default_days).
        #[arg(long)]
        days: Option<u32>,
    },
    /// List active tokens (of one user with --email).
    List {
        #[arg(long)]
        email: Option<String>,
        /// Also revoked and expired tokens.
        #[arg(long)]
        all: bool,
    },
    /// Revoke a token by id.
    Revoke {
        #[arg(long)]
        id: String,
    },
}

impl Cli {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            role: match &self.command {
                Command::Serve(args) => args.role,
                _ => None,
            },
            data: self.data.clone(),
            listen: self.listen.clone(),
            log_format: self.log_format.clone(),
        }
    }

    pub fn settings(&self) -> anyhow::Result<Settings> {
        Settings::load(self.config.as_deref(), &self.overrides())
    }
}

/// Runs a command. Logging is set up by the caller.
pub async fn run(cli: Cli, settings: Settings) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(_) => crate::server::serve(settings).await,
        Command::Migrate => {
            let app = crate::server::open_app(&settings).await?;
            app.repo().close().await;
            println!(
                "database migrated: {}",
                cityx_db::redact_url(&settings.database_url())
            );
            Ok(())
        }
        Command::Admin(cmd) => crate::admin::run(cmd, &settings).await,
        Command::Config(ConfigCommand::Default) => {
            print!("{DEFAULT_CONFIG}");
            Ok(())
        }
        Command::Config(ConfigCommand::Check) => {
            let mut shown = settings.clone();
            shown.database.url = cityx_db::redact_url(&settings.database_url());
            shown.storage.url = settings.storage_url();
            shown.queue.url = crate::settings::redact_credentials(&settings.queue.url);
            if !shown.storage.secret_access_key.is_empty() {
                shown.storage.secret_access_key = "[redacted]".into();
            }
            println!("# configuration is valid; effective values:\n");
            print!("{}", toml::to_string_pretty(&shown)?);
            Ok(())
        }
    }
}

/// `config default` and `config check` need no valid configuration to print the defaults.
pub fn needs_settings(cli: &Cli) -> bool {
    !matches!(cli.command, Command::Config(ConfigCommand::Default))
}
