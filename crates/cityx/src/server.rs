//! Start-up and shutdown: open the data directory and database, create the first admin,
//! assemble the routers, listen, and stop gracefully.

use crate::settings::{Role, Settings};
use anyhow::Context;
use axum::Router;
use cityx_app::App;
use cityx_http::http::HttpState;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Creates the data directory, opens and migrates the database, builds the [`App`].
pub async fn open_app(settings: &Settings) -> anyhow::Result<Arc<App>> {
    let dir = &settings.data.dir;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("failed to create data directory {}", dir.display()))?;
    if let Some(path) = settings.storage_url().strip_prefix("file://") {
        std::fs::create_dir_all(path)
            .with_context(|| format!("failed to create object storage directory {path}"))?;
    }
    let url = settings.database_url();
    let repo = cityx_db::connect(&cityx_db::DbOptions {
        url: url.clone(),
        max_connections: settings.database.max_connections,
    })
    .await
    .with_context(|| format!("failed to open the database {}", cityx_db::redact_url(&url)))?;
    repo.migrate()
        .await
        .context("failed to migrate the database")?;
    let storage = cityx_storage::Storage::open(&settings.store_options())
        .context("failed to open object storage")?;
    let spool = cityx_storage::spool::Spool::open(settings.spool_dir(), storage.clone())
        .context("failed to open the upload spool")?;
    let app = App::new(
        repo,
        storage,
        spool,
        settings.auth.clone(),
        settings.uploads.clone(),
    )
    .context("failed to start the application")?
    .with_fetch_guard(cityx_fetch::Guard::new(settings.fetch_options()?))
    .with_sealer(secret_key(&settings.data.secret_key_path())?)
    .with_media_cache(settings.media.cache_mb.saturating_mul(1 << 20));
    Ok(Arc::new(app))
}

/// Reads the key that encrypts partners' secrets, making it (readable by the owner only) when
/// the file does not exist yet.
fn secret_key(path: &std::path::Path) -> anyhow::Result<cityx_app::secrets::Sealer> {
    use std::io::Write;
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let text = cityx_app::secrets::Sealer::new_key_text()?;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            match options.open(path) {
                Ok(mut file) => {
                    file.write_all(text.as_bytes())
                        .and_then(|()| file.sync_all())
                        .with_context(|| format!("failed to write {}", path.display()))?;
                    tracing::info!(path = %path.display(), "made a new secret key (copy it to every node of a cluster)");
                    text
                }
                // Another process made it first.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    std::fs::read_to_string(path)?
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("failed to create {}", path.display()));
                }
            }
        }
        Err(e) => return Err(e).with_context(|| format!("failed to read {}", path.display())),
    };
    cityx_app::secrets::Sealer::from_hex(&text).map_err(|_| {
        anyhow::anyhow!(
            "{} (data.secret_key_file) must hold 64 hex characters",
            path.display()
        )
    })
}

/// The whole HTTP surface: API and web UI, wrapped in the common layers, and the media
/// files in their lean ones; a worker's is only health, readiness and metrics.
pub fn router(state: HttpState, role: Role) -> Router {
    let http = state.http.clone();
    if !role.serves_api() {
        let system = cityx_api::system_router()
            .fallback(cityx_web::not_found)
            .with_state(state);
        return cityx_http::middleware::wrap(system, &http);
    }
    let media = cityx_api::media_router().with_state(state.clone());
    let routes = cityx_api::router()
        .merge(cityx_web::router())
        .fallback(cityx_web::not_found)
        .with_state(state);
    cityx_http::middleware::wrap_media(media, &http)
        .merge(cityx_http::middleware::wrap(routes, &http))
}

/// Who the first hub admin is, on an empty database.
#[derive(Clone, Debug, Default)]
pub struct FirstAdmin {
    pub email: Option<String>,
    pub password: Option<String>,
}

impl FirstAdmin {
    /// From `CITYX_ADMIN_EMAIL` and `CITYX_ADMIN_PASSWORD`.
    pub fn from_env() -> Self {
        let var = |k| std::env::var(k).ok().filter(|v: &String| !v.is_empty());
        FirstAdmin {
            email: var("CITYX_ADMIN_EMAIL"),
            password: var("CITYX_ADMIN_PASSWORD"),
        }
    }
}

/// A server that is listening.
pub struct Running {
    pub addr: SocketAddr,
    pub app: Arc<App>,
    /// The first admin created by this start: email and generated password, if any.
    pub created_admin: Option<(String, Option<String>)>,
    /// Where the RTMP ingest listens, when this node runs it.
    pub rtmp_addr: Option<SocketAddr>,
    /// The RTMP ingest's accept loop and the pulls' supervisor.
    ingest: Option<JoinHandle<()>>,
    stop: Option<oneshot::Sender<()>>,
    server: JoinHandle<std::io::Result<()>>,
    /// The metrics' upkeep.
    upkeep: JoinHandle<()>,
    /// Keeps the search index in step with the database, on API nodes.
    indexer: Option<JoinHandle<()>>,
    /// The spine: the event feeder always; the job runner, process supervisor and scheduler
    /// when this process runs jobs.
    runner: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
}

/// Opens everything this process's role needs and starts listening; returns once the
/// socket is bound.
pub async fn start(settings: &Settings, first_admin: &FirstAdmin) -> anyhow::Result<Running> {
    let role = settings.server.role;
    let runs_jobs = role.runs_jobs() && settings.jobs.enabled;
    // The bus carries jobs to workers; API nodes only write the outbox it is fed from.
    let bus = match settings.bus_options().filter(|_| runs_jobs) {
        Some(opts) => Some(
            cityx_queue::bus::Bus::connect(opts)
                .await
                .with_context(|| {
                    format!(
                        "failed to open the message bus {}",
                        crate::settings::redact_credentials(&settings.queue.url)
                    )
                })?,
        ),
        None => None,
    };
    let mut app = open_app(settings).await?;
    if let Some(bus) = &bus {
        let bus = bus.clone();
        let app = Arc::get_mut(&mut app).context("the application is shared too early")?;
        app.set_ready_check("the message bus", Arc::new(move || bus.connected()));
    }
    let mut created_admin = None;
    if role.serves_api() {
        created_admin = app
            .people()
            .ensure_first_admin(
                first_admin.email.as_deref(),
                first_admin.password.as_deref(),
            )
            .await
            .map_err(|e| anyhow::anyhow!("failed to create the first admin: {e}"))?;
        let dir = settings.search_dir();
        let (index, _) = cityx_search::SearchIndex::open(&dir).with_context(|| {
            format!(
                "failed to open the search index in {}: is another cityx using this data directory?",
                dir.display()
            )
        })?;
        app.exchange().attach_search(Arc::new(index))?;
    }

    // The RTMP ingest of live channels runs beside the API.
    let mut http = settings.http_options();
    let mut rtmp_addr = None;
    let mut ingest = None;
    if role.serves_api() && settings.live.enabled {
        let addr = settings.rtmp_addr()?;
        let listener = TcpListener::bind(addr).await.with_context(|| {
            format!("failed to listen for RTMP on {addr} (live.rtmp_listen): is another server running there?")
        })?;
        let bound = listener.local_addr()?;
        let opts = Arc::new(settings.ingest_options());
        cityx_live::publish::clear_work_dir(&opts.work_dir);
        http.rtmp_url = Some(settings.rtmp_url(bound));
        rtmp_addr = Some(bound);
        let srt = match settings.srt_addr()? {
            Some(addr) => {
                let socket = tokio::net::UdpSocket::bind(addr).await.with_context(|| {
                    format!("failed to listen for SRT on {addr} (live.srt_listen): is another server running there?")
                })?;
                let bound = socket.local_addr()?;
                http.srt_url = Some(settings.srt_url(bound));
                tracing::info!(%bound, "SRT ingest listening");
                Some(socket)
            }
            None => None,
        };
        // SRT beside RTMP, and the pulls of pulling channels, on every API node.
        ingest = Some(tokio::spawn(cityx_live::ingest(
            listener,
            srt,
            app.clone(),
            opts,
        )));
        tracing::info!(%bound, "RTMP ingest listening");
    }
    let state = HttpState {
        app: app.clone(),
        http: Arc::new(http),
        metrics: cityx_api::metrics_handle(),
    };
    let addr = settings.listen_addr()?;
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("failed to listen on {addr}: is another server running there?"))?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let state_metrics = state.metrics.clone();
    let server = tokio::spawn(cityx_http::serve::serve(
        listener,
        router(state, role),
        settings.conn_options(),
        async {
            let _ = stopped.await;
        },
    ));
    let upkeep = tokio::spawn(upkeep(state_metrics));
    let indexer = role.serves_api().then(|| {
        let app = app.clone();
        tokio::spawn(async move { app.exchange().follow_index().await })
    });
    let runner = Some(start_spine(settings, &app, bus, runs_jobs)?);
    tracing::info!(%addr, ?role, "cityx listening");
    Ok(Running {
        addr,
        app,
        created_admin,
        rtmp_addr,
        ingest,
        stop: Some(stop),
        server,
        upkeep,
        indexer,
        runner,
    })
}

/// Every 5 s, the metrics' upkeep, which folds the recorded durations into their histograms
/// (without it they would pile up in memory between scrapes of `/metrics`). The cluster's
/// periodic clean-up is a task of the scheduler (`tidy`).
async fn upkeep(metrics: metrics_exporter_prometheus::PrometheusHandle) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tick.tick().await;
        metrics.run_upkeep();
    }
}

/// What every subsystem registers with the spine: job kinds, process kinds, periodic tasks,
/// event subscribers.
/// A new subsystem adds its one `register` line here.
fn registry(settings: &Settings, app: &Arc<App>) -> anyhow::Result<cityx_queue::Registry> {
    let mut reg = cityx_queue::Registry::default();
    let media = cityx_jobs::Context {
        app: app.clone(),
        tools: settings.media_tools(),
        work_root: settings.data.dir.join("work"),
        ladder: settings.ladder_options(),
        qc: settings.qc.clone(),
    };
    cityx_jobs::register(&mut reg, &media);
    cityx_webhooks::register(&mut reg, app);
    cityx_live::register(
        &mut reg,
        app,
        settings.media_tools(),
        settings.data.dir.join("work"),
    );
    reg.check().map_err(anyhow::Error::msg)?;
    Ok(reg)
}

/// Starts the event subscribers' feeder on every node, and where jobs run (`runs_jobs`) the
/// job runner (with the bus's relays when there is one), the process supervisor and the
/// scheduler; returns their stop signal and the task that ends when all have stopped.
fn start_spine(
    settings: &Settings,
    app: &Arc<App>,
    bus: Option<cityx_queue::bus::Bus>,
    runs_jobs: bool,
) -> anyhow::Result<(oneshot::Sender<()>, JoinHandle<()>)> {
    let mut reg = registry(settings, app)?;
    let feeder = Arc::new(cityx_queue::subscribe::Feeder::new(
        app.repo().clone(),
        std::mem::take(&mut reg.subscribers),
        cityx_queue::subscribe::FeederOptions::default(),
    ));
    if !runs_jobs {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(feeder.run(async {
            let _ = stopped.await;
        }));
        return Ok((stop, task));
    }
    let reg = reg.only(&settings.jobs.only_kinds);
    let mut runner =
        cityx_queue::Runner::new(app.repo().clone(), reg.handlers, settings.runner_options());
    // Work enqueued on this node signals `job_signal`, and so (on PostgreSQL) does work
    // enqueued on any node. Without a bus that wakes the runner; with one, the outbox
    // relay, whose messages then wake the runners of every node.
    let enqueued = app.pipeline().job_signal();
    let mut helpers = vec![tokio::spawn({
        let (repo, wake) = (app.repo().clone(), enqueued.clone());
        async move { repo.relay_job_wakeups(wake).await }
    })];
    match bus {
        Some(bus) => {
            helpers.push(tokio::spawn(cityx_queue::bus::relay(
                app.repo().clone(),
                bus.clone(),
                enqueued.clone(),
                Duration::from_millis(250),
            )));
            let published = Arc::new(tokio::sync::Notify::new());
            helpers.push(tokio::spawn({
                let (bus, wake) = (bus.clone(), published.clone());
                async move { bus.relay_wakeups(wake).await }
            }));
            runner = runner.with_bus(bus).woken_by(published);
        }
        None => runner = runner.woken_by(enqueued.clone()),
    }
    let runner = Arc::new(runner);
    let supervisor = Arc::new(cityx_queue::supervise::Supervisor::new(
        app.repo().clone(),
        reg.services,
        cityx_queue::supervise::SupervisorOptions::default(),
    ));
    let scheduler = Arc::new(cityx_queue::schedule::Scheduler::new(
        app.repo().clone(),
        reg.tasks,
        enqueued,
    ));
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let (all_stop, _) = tokio::sync::broadcast::channel::<()>(1);
        let signal = |tx: &tokio::sync::broadcast::Sender<()>| {
            let mut rx = tx.subscribe();
            async move {
                let _ = rx.recv().await;
            }
        };
        let parts = async {
            tokio::join!(
                runner.run(signal(&all_stop)),
                supervisor.run(signal(&all_stop)),
                scheduler.run(signal(&all_stop)),
                feeder.run(signal(&all_stop)),
            )
        };
        tokio::pin!(parts);
        tokio::select! {
            _ = &mut parts => {},
            _ = stopped => {
                let _ = all_stop.send(());
                parts.await;
            }
        }
        for helper in helpers {
            helper.abort();
        }
    });
    Ok((stop, task))
}

impl Running {
    /// Stops accepting connections, lets requests in flight finish for up to `grace`, then
    /// closes the database.
    pub async fn shutdown(mut self, grace: Duration) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.upkeep.abort();
        if let Some(ingest) = &self.ingest {
            ingest.abort();
        }
        // Each round commits atomically; stopping between rounds loses nothing.
        if let Some(indexer) = &self.indexer {
            indexer.abort();
        }
        if let Some((stop, task)) = self.runner.take() {
            // Running jobs stop (their leases lapse and they run again later); supervised
            // processes end and are released for another node.
            let _ = stop.send(());
            let _ = tokio::time::timeout(grace, task).await;
        }
        match tokio::time::timeout(grace, &mut self.server).await {
            Ok(joined) => joined
                .context("the server task failed")?
                .context("the server failed")?,
            Err(_) => {
                tracing::warn!(
                    ?grace,
                    "requests still running after the grace period; stopping anyway"
                );
                self.server.abort();
            }
        }
        self.app.repo().close().await;
        Ok(())
    }
}

/// `cityx serve`: runs until SIGINT or SIGTERM.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let stop = shutdown_signal()?;
    let running = start(&settings, &FirstAdmin::from_env()).await?;
    if let Some((email, generated)) = &running.created_admin {
        match generated {
            Some(password) => eprintln!(
                "\n  First hub admin created.\n    email:    {email}\n    password: {password}\n  \
                 This password is shown only once; change it after signing in.\n"
            ),
            None => eprintln!(
                "\n  First hub admin created: {email} (password from CITYX_ADMIN_PASSWORD)\n"
            ),
        }
    }
    match settings.server.role {
        Role::Worker => eprintln!(
            "  cityx worker is running at http://{}/  (jobs; health, readiness and metrics only; \
             Ctrl-C to stop)",
            running.addr
        ),
        _ => eprintln!(
            "  cityx is running at http://{}/  (Ctrl-C to stop)",
            running.addr
        ),
    }
    stop.await;
    tracing::info!("shutting down");
    running
        .shutdown(Duration::from_secs(settings.server.shutdown_grace_secs))
        .await?;
    tracing::info!("stopped");
    Ok(())
}

/// SIGINT or SIGTERM. The handlers are installed when this is called, not when it is first
/// awaited: a signal sent as soon as the server says it is running must stop it gracefully,
/// not kill it.
#[cfg(unix)]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
    })
}

#[cfg(not(unix))]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

#[cfg(test)]
mod tests {
    /// `jobs.only_kinds` and `jobs.kinds` are checked against a list in the settings; it must
    /// be exactly what the subsystems register.
    #[tokio::test]
    async fn the_settings_know_every_registered_job_kind() {
        let dir = tempfile::tempdir().expect("dir");
        let mut settings = crate::settings::Settings::default();
        settings.data.dir = dir.path().to_path_buf();
        let app = super::open_app(&settings).await.expect("app");
        let reg = super::registry(&settings, &app).expect("registry");
        let mut registered: Vec<&str> = reg.handlers.iter().map(|h| h.kind()).collect();
        let mut known = crate::settings::JOB_KINDS.to_vec();
        registered.sort_unstable();
        known.sort_unstable();
        assert_eq!(registered, known);
        app.repo().close().await;
    }
}
