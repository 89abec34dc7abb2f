//! `cityx admin …`: the operator at the console acts as the system (a hub admin), through the
//! same use cases as the API, so the same rules and audit entries apply.

use crate::cli::{
    AdminCommand, JobCommand, StationCommand, StorageCommand, TokenCommand, UserCommand,
};
use crate::settings::Settings;
use anyhow::{Context, anyhow};
use cityx_app::{App, NewToken, NewUser, PageRequest, UserPatch};
use cityx_core::validate::StationInput;
use cityx_core::{Actor, JobId, ScopeSet, Station, TokenId, human_size};
use std::io::BufRead;

pub async fn run(cmd: AdminCommand, settings: &Settings) -> anyhow::Result<()> {
    let app = crate::server::open_app(settings).await?;
    let result = dispatch(&app, cmd, settings).await;
    app.repo().close().await;
    result
}

/// Turns a use-case error into a message for the operator, with field details.
fn fail(e: cityx_app::Error) -> anyhow::Error {
    match e {
        cityx_app::Error::Validation(fields) => {
            let lines: Vec<String> = fields
                .iter()
                .map(|f| format!("  --{}: {}", f.field.replace('_', "-"), f.message))
                .collect();
            anyhow!("invalid input:\n{}", lines.join("\n"))
        }
        e => anyhow!("{e}"),
    }
}

fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("failed to read the password from standard input")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

async fn all_pages<T, F, Fut>(mut fetch: F) -> anyhow::Result<Vec<T>>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: std::future::Future<Output = cityx_app::Result<cityx_app::Page<T>>>,
{
    let mut out = Vec::new();
    let mut req = PageRequest::first(PageRequest::MAX_LIMIT);
    loop {
        let page = fetch(req.clone()).await.map_err(fail)?;
        out.extend(page.items);
        match page.next {
            Some(next) => req.after = Some(next),
            None => return Ok(out),
        }
    }
}

async fn station_by_code(app: &App, code: &str) -> anyhow::Result<Station> {
    app.people()
        .station_by_code(&Actor::system(), code)
        .await
        .map_err(|e| {
            if e.is_not_found() {
                anyhow!("no station with code `{code}`")
            } else {
                fail(e)
            }
        })
}

async fn reindex(app: &App, settings: &Settings) -> anyhow::Result<()> {
    let dir = settings.search_dir();
    let (index, _) = cityx_search::SearchIndex::open(&dir).with_context(|| {
        format!(
            "failed to open the search index in {}: stop `cityx serve` on this data directory first",
            dir.display()
        )
    })?;
    app.exchange()
        .attach_search(std::sync::Arc::new(index))
        .map_err(fail)?;
    let started = std::time::Instant::now();
    let n = app.exchange().reindex().await.map_err(fail)?;
    println!(
        "search index rebuilt: {n} items in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn dispatch(app: &App, cmd: AdminCommand, settings: &Settings) -> anyhow::Result<()> {
    let sys = Actor::system();
    match cmd {
        AdminCommand::Station(StationCommand::Create(a)) => {
            let s = app
                .people()
                .create_station(
                    &sys,
                    &StationInput {
                        name: &a.name,
                        code: &a.code,
                        city: &a.city,
                        province: &a.province,
                        region: &a.region,
                        contact_name: &a.contact_name,
                        contact_phone: &a.contact_phone,
                        contact_email: &a.contact_email,
                    },
                )
                .await
                .map_err(fail)?;
            println!("station created: {} {} ({})", s.code, s.name, s.id);
        }
        AdminCommand::Station(StationCommand::List) => {
            let all =
                all_pages(
                    |p| async move { app.people().list_stations(&Actor::system(), &p).await },
                )
                .await?;
            println!(
                "{:<16} {:<24} {:<10} {:<10} {:<10} ID",
                "CODE", "NAME", "CITY", "PROVINCE", "REGION"
            );
            for s in all {
                println!(
                    "{:<16} {:<24} {:<10} {:<10} {:<10} {}",
                    s.code,
                    s.name,
                    s.city,
                    s.province,
                    s.region.as_str(),
                    s.id
                );
            }
        }
        AdminCommand::User(UserCommand::Create {
            email,
            name,
            role,
            station,
            password_stdin,
        }) => {
            let station_id = match station {
                Some(code) => Some(station_by_code(app, &code).await?.id),
                None => None,
            };
            let password = if password_stdin {
                Some(read_password()?)
            } else {
                None
            };
            let (u, generated) = app
                .people()
                .create_user(
                    &sys,
                    &NewUser {
                        email,
                        display_name: name,
                        role,
                        station_id,
                        password,
                    },
                )
                .await
                .map_err(fail)?;
            println!("user created: {} ({}, {})", u.email, u.role, u.id);
            if let Some(p) = generated {
                println!("password: {p}\n(shown only once)");
            }
        }
        AdminCommand::User(UserCommand::List { station }) => {
            let station_id = match station {
                Some(code) => Some(station_by_code(app, &code).await?.id),
                None => None,
            };
            let all = all_pages(|p| async move {
                app.people()
                    .list_users(&Actor::system(), station_id, &p)
                    .await
            })
            .await?;
            println!(
                "{:<32} {:<14} {:<9} {:<20} ID",
                "EMAIL", "ROLE", "DISABLED", "NAME"
            );
            for u in all {
                println!(
                    "{:<32} {:<14} {:<9} {:<20} {}",
                    u.email,
                    u.role.as_str(),
                    u.disabled,
                    u.display_name,
                    u.id
                );
            }
        }
        AdminCommand::User(UserCommand::SetRole { email, role }) => {
            let u = app
                .people()
                .user_by_email(&sys, &email)
                .await
                .map_err(fail)?;
            let u = app
                .people()
                .update_user(
                    &sys,
                    u.id,
                    &UserPatch {
                        role: Some(role),
                        ..Default::default()
                    },
                )
                .await
                .map_err(fail)?;
            println!("{} is now {}", u.email, u.role);
        }
        AdminCommand::User(UserCommand::Disable { email }) => {
            set_disabled(app, &email, true).await?
        }
        AdminCommand::User(UserCommand::Enable { email }) => {
            set_disabled(app, &email, false).await?
        }
        AdminCommand::User(UserCommand::ResetPassword {
            email,
            password_stdin,
        }) => {
            let u = app
                .people()
                .user_by_email(&sys, &email)
                .await
                .map_err(fail)?;
            let password = if password_stdin {
                Some(read_password()?)
            } else {
                None
            };
            let (generated, revoked) = app
                .people()
                .reset_password(&sys, u.id, password.as_deref())
                .await
                .map_err(fail)?;
            println!(
                "password reset for {}; their sessions have ended and {revoked} API token(s) were revoked",
                u.email
            );
            if let Some(p) = generated {
                println!("password: {p}\n(shown only once)");
            }
        }
        AdminCommand::Token(TokenCommand::Create {
            email,
            name,
            scopes,
            days,
        }) => {
            let u = app
                .people()
                .user_by_email(&sys, &email)
                .await
                .map_err(fail)?;
            let names = scopes.replace(',', " ");
            let scopes = ScopeSet::parse_names(&names)
                .map_err(|e| anyhow!("--scopes: {e}; use read, write and admin"))?;
            let (t, secret) = app
                .access()
                .create_token(
                    &sys,
                    &NewToken {
                        name,
                        scopes,
                        expires_in_days: days,
                        user_id: Some(u.id),
                    },
                )
                .await
                .map_err(fail)?;
            println!(
                "token created: {} for {} ({}), expires {}",
                t.id,
                u.email,
                t.scopes.to_names(),
                t.expires_at
            );
            println!("secret: {}\n(shown only once)", secret.expose());
        }
        AdminCommand::Token(TokenCommand::List { email, all }) => {
            let user = match email {
                Some(e) => Some(app.people().user_by_email(&sys, &e).await.map_err(fail)?.id),
                None => None,
            };
            let tokens = all_pages(|p| async move {
                app.access()
                    .list_tokens(&Actor::system(), user, all, &p)
                    .await
            })
            .await?;
            println!(
                "{:<38} {:<12} {:<6} {:<18} {:<26} STATE",
                "ID", "PREFIX", "KIND", "SCOPES", "EXPIRES"
            );
            let now = cityx_core::now();
            for t in tokens {
                let state = if t.revoked_at.is_some() {
                    "revoked"
                } else if t.expires_at <= now {
                    "expired"
                } else {
                    "active"
                };
                println!(
                    "{:<38} {:<12} {:<6} {:<18} {:<26} {state}",
                    t.id.to_string(),
                    t.prefix,
                    t.kind.as_str(),
                    t.scopes.to_names(),
                    t.expires_at.to_string()
                );
            }
        }
        AdminCommand::Token(TokenCommand::Revoke { id }) => {
            let id: TokenId = id
                .parse()
                .map_err(|_| anyhow!("--id: `{id}` is not a token id"))?;
            let t = app.access().revoke_token(&sys, id).await.map_err(fail)?;
            println!("token {} ({}) revoked", t.id, t.name);
        }
        AdminCommand::Reindex => reindex(app, settings).await?,
        AdminCommand::Fsck { quick } => fsck(app, quick).await?,
        AdminCommand::Storage(StorageCommand::Migrate {
            to,
            to_config,
            journal,
            recheck,
        }) => migrate_storage(app, settings, to, to_config, journal, recheck).await?,
        AdminCommand::Job(JobCommand::Dead { limit }) => {
            let jobs = app.pipeline().dead_jobs(&sys, limit).await.map_err(fail)?;
            println!(
                "{:<38} {:<10} {:<55} {:<8} REASON",
                "ID", "KIND", "SUBJECT", "TRIES"
            );
            for j in jobs {
                println!(
                    "{:<38} {:<10} {:<55} {:<8} {}",
                    j.id.to_string(),
                    j.kind,
                    j.subject
                        .map(|s| format!("{}:{}", s.kind, s.id))
                        .unwrap_or_default(),
                    j.attempts,
                    j.last_error.unwrap_or_default().replace('\n', " ")
                );
            }
        }
        AdminCommand::Job(JobCommand::Rerun { id }) => {
            let id: JobId = id
                .parse()
                .map_err(|_| anyhow!("--id: `{id}` is not a job id"))?;
            app.pipeline().rerun_job(&sys, id).await.map_err(fail)?;
            println!("job {id} queued again; a running `cityx serve` picks it up");
        }
    }
    Ok(())
}

/// Calls `report` at most every two seconds, for progress on standard error.
fn every_two_seconds<T>(report: impl Fn(&T)) -> impl FnMut(&T) {
    let mut last = std::time::Instant::now();
    move |t| {
        if last.elapsed() >= std::time::Duration::from_secs(2) {
            last = std::time::Instant::now();
            report(t);
        }
    }
}

/// A count with its noun: `1 object`, `2 objects`.
fn n(count: impl Into<u64>, noun: &str) -> String {
    match count.into() {
        1 => format!("1 {noun}"),
        c => format!("{c} {noun}s"),
    }
}

async fn fsck(app: &App, quick: bool) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let report = app
        .integrity()
        .fsck(
            cityx_app::FsckOptions { hashes: !quick },
            every_two_seconds(|r: &cityx_app::FsckReport| {
                eprintln!(
                    "checked {}, {}, {} hashed",
                    n(r.items, "item"),
                    n(r.objects, "object"),
                    human_size(r.bytes_hashed)
                );
            }),
        )
        .await
        .map_err(anyhow::Error::new)?;
    for f in &report.findings {
        println!("{}: {}", f.key, f.problem);
    }
    let problems = n(report.findings.len() as u64, "problem");
    println!(
        "fsck: {}, {} checked{} in {:.1} s: {}",
        n(report.items, "item"),
        n(report.objects, "object"),
        if quick {
            " (sizes only)".to_owned()
        } else {
            format!(", {} hashed", human_size(report.bytes_hashed))
        },
        started.elapsed().as_secs_f64(),
        if report.findings.is_empty() {
            "no problems"
        } else {
            &problems
        }
    );
    if report.findings.is_empty() {
        Ok(())
    } else {
        Err(anyhow!("{problems} found"))
    }
}

/// Names a store for the migration journal and for refusing a move onto itself: its URL,
/// with a local directory resolved and an S3 endpoint added.
fn store_name(url: &str, endpoint: &str) -> String {
    if let Some(path) = url.strip_prefix("file://") {
        let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.into());
        format!("file://{}", path.display())
    } else if url.starts_with("s3://") && !endpoint.is_empty() {
        format!("{url} at {}", endpoint.trim_end_matches('/'))
    } else {
        url.to_owned()
    }
}

async fn migrate_storage(
    app: &App,
    settings: &Settings,
    to: Option<String>,
    to_config: Option<std::path::PathBuf>,
    journal: Option<std::path::PathBuf>,
    recheck: bool,
) -> anyhow::Result<()> {
    let dest = match (to, to_config) {
        (Some(url), _) => cityx_storage::StoreOptions {
            url,
            ..Default::default()
        },
        (None, Some(file)) => Settings::load(Some(&file), &Default::default())?.store_options(),
        (None, None) => return Err(anyhow!("name the destination with --to or --to-config")),
    };
    let to = cityx_storage::Storage::open(&dest)
        .with_context(|| format!("failed to open the destination store {}", dest.url))?;
    let destination = store_name(&dest.url, &dest.endpoint);
    let source = store_name(&settings.storage_url(), &settings.storage.endpoint);
    if destination == source {
        return Err(anyhow!(
            "the destination is the store in use ({source}): name another"
        ));
    }
    to.ping()
        .await
        .with_context(|| format!("the destination store {destination} does not answer"))?;
    let journal = journal.unwrap_or_else(|| settings.data.dir.join("storage-migrate.journal"));
    let started = std::time::Instant::now();
    let (report, unfinished) = app
        .integrity()
        .migrate_storage(
            &to,
            &journal,
            &cityx_storage::migrate::Options {
                destination: destination.clone(),
                recheck,
            },
            every_two_seconds(|r: &cityx_storage::migrate::Report| {
                eprintln!(
                    "copied {} ({}), {} already there, {} failed",
                    n(r.copied, "object"),
                    human_size(r.copied_bytes),
                    r.present,
                    r.failed.len()
                );
            }),
        )
        .await
        .map_err(anyhow::Error::new)?;
    for (key, why) in &report.failed {
        println!("{key}: {why}");
    }
    println!(
        "storage migrate to {destination}: {} copied ({}) and verified by SHA-256, {} already there ({}), {} gone meanwhile, {} failed, in {:.1} s",
        n(report.copied, "object"),
        human_size(report.copied_bytes),
        report.present,
        human_size(report.present_bytes),
        report.gone,
        report.failed.len(),
        started.elapsed().as_secs_f64()
    );
    println!("journal: {}", journal.display());
    if unfinished > 0 {
        println!(
            "unfinished uploads: {unfinished}; their bytes stay where they are. Let them finish, then run this again before switching storage.url."
        );
    }
    if report.failed.is_empty() {
        Ok(())
    } else {
        Err(anyhow!(
            "{} not migrated; run again to retry",
            n(report.failed.len() as u64, "object")
        ))
    }
}

async fn set_disabled(app: &App, email: &str, disabled: bool) -> anyhow::Result<()> {
    let sys = Actor::system();
    let u = app
        .people()
        .user_by_email(&sys, email)
        .await
        .map_err(fail)?;
    let u = app
        .people()
        .update_user(
            &sys,
            u.id,
            &UserPatch {
                disabled: Some(disabled),
                ..Default::default()
            },
        )
        .await
        .map_err(fail)?;
    println!(
        "{} is now {}",
        u.email,
        if u.disabled { "disabled" } else { "enabled" }
    );
    Ok(())
}
