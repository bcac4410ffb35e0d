//! `grokmon run`: the resilient orchestrator (DESIGN.md, "The orchestrator").
//!
//! sensors → supervisor (backoff, last known value) → store (grokmon.db) → health API,
//! and AI decisions → allowlisted actions.
//!
//! Its whole point is to stay up while its parts fail, and to exit cleanly
//! when asked. `serve` takes the shutdown signal as a parameter (as
//! mini-redis does): every task owns a `Shutdown` handle, every loop selects
//! on it, and `serve` returns only when all of them have finished and the
//! store is flushed. `run` adds the process around it: the signals, the
//! `shutdown_timeout` deadline, the second signal that exits at once, and
//! systemd's notifications.

pub mod actions;
pub mod ai;
pub mod api;
pub mod appender;
pub mod backoff;
pub mod checkwatch;
pub mod forward;
pub mod hub;
pub mod page;
pub mod process;
pub mod record;
pub mod sensor;
pub mod shepherd;
pub mod shutdown;
pub mod store;
pub mod supervisor;
pub mod tree;
pub mod watchdog;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::systemd::notify::{self as systemd_notify, NotifyState};
use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};
use tokio::task::JoinSet;

use crate::Ctx;
use crate::alerts::Level;
use crate::cli::RunArgs;
use crate::config::{Config, ConfigError};
use hub::{Hub, Phase, QUEUE_CAP};
use shutdown::Trigger;

pub fn run(_args: &RunArgs, ctx: &Ctx) -> anyhow::Result<u8> {
    let cfg = ctx.config.clone();
    cfg.validate_for_run()?;
    // The AI client is built before anything starts: a missing key is a
    // configuration that cannot work (78), not a runtime failure.
    let ai = if cfg.ai.enabled {
        let key = ai::load_key(
            &cfg.ai,
            |k| std::env::var(k).ok(),
            std::env::var_os("CREDENTIALS_DIRECTORY")
                .map(std::path::PathBuf::from)
                .as_deref(),
        )?;
        let prompt = ai::load_system_prompt(&cfg.ai)?;
        Some(ai::Client::new(&cfg.ai, key, prompt).context("cannot build the AI client")?)
    } else {
        None
    };
    let listener = bind(&cfg)?;
    // One thread: the work is waiting, and the RSS budget is small. SQLite
    // and file appends run on the blocking pool.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(4)
        .build()
        .context("cannot start the async runtime")?;
    let res = rt.block_on(main_async(listener, cfg, ai));
    // Tasks still alive after a forced exit are abandoned, not waited for.
    rt.shutdown_background();
    res
}

/// Binds the API address; failing to is a configuration that cannot work (78).
fn bind(cfg: &Config) -> anyhow::Result<std::net::TcpListener> {
    let addr: SocketAddr = cfg.orchestrator.listen.parse().map_err(|_| {
        ConfigError(format!(
            "orchestrator.listen = {:?} is not ADDRESS:PORT",
            cfg.orchestrator.listen
        ))
    })?;
    let l = std::net::TcpListener::bind(addr).map_err(|e| {
        ConfigError(format!(
            "cannot listen on {addr} (orchestrator.listen in {}): {e}; stop what uses it or choose another address",
            cfg.source
        ))
    })?;
    l.set_nonblocking(true)
        .with_context(|| format!("cannot configure the socket on {addr}"))?;
    // std listens with a backlog of 128: with more clients connecting at
    // once the kernel drops their SYNs, and a fresh client (a check) waits
    // for its retransmission, 1 s then 3 s. Listening again sets a longer
    // queue (capped by net.core.somaxconn), which the accept loop drains
    // without waiting.
    // SAFETY: the descriptor is a bound socket owned by `l`.
    if unsafe { libc::listen(std::os::fd::AsRawFd::as_raw_fd(&l), api::LISTEN_BACKLOG) } != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("cannot listen on {addr}"));
    }
    Ok(l)
}

/// Which signal arrived.
async fn next_signal(
    term: &mut tokio::signal::unix::Signal,
    int: &mut tokio::signal::unix::Signal,
) -> &'static str {
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}

async fn main_async(
    listener: std::net::TcpListener,
    cfg: Config,
    ai: Option<ai::Client>,
) -> anyhow::Result<u8> {
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let listener = tokio::net::TcpListener::from_std(listener)
        .context("cannot register the listening socket")?;
    let hub = Arc::new(Hub::new(&cfg, QUEUE_CAP));
    let deadline = cfg.orchestrator.shutdown_timeout;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let serving = serve(listener, cfg, ai, hub.clone(), async {
        let _ = stop_rx.await;
    });
    tokio::pin!(serving);
    let sig = tokio::select! {
        r = &mut serving => {
            // serve ends on its own only if it could not start.
            r?;
            return Ok(crate::exit::OK);
        }
        s = next_signal(&mut term, &mut int) => s,
    };
    crate::errln!(
        "received {sig}: shutting down (at most {}; a second signal exits at once)",
        humantime::format_duration(deadline)
    );
    let _ = stop_tx.send(());
    tokio::select! {
        r = &mut serving => {
            r?;
            crate::errln!("stopped cleanly");
        }
        _ = tokio::time::sleep(deadline) => {
            hub.kill_children();
            crate::errln!(
                "shutdown took longer than {}: exiting now ({} records not written)",
                humantime::format_duration(deadline),
                hub.queue.len()
            );
        }
        s = next_signal(&mut term, &mut int) => {
            hub.kill_children();
            crate::errln!("received {s} again: exiting at once ({} records not written)", hub.queue.len());
        }
    }
    Ok(crate::exit::OK)
}

/// How long the health API may take to finish its answers at shutdown.
const API_DRAIN: std::time::Duration = std::time::Duration::from_secs(1);

/// Runs the orchestrator on `listener` until `shutdown` resolves, then stops
/// every loop, flushes the store and returns.
pub async fn serve(
    listener: tokio::net::TcpListener,
    cfg: Config,
    ai: Option<ai::Client>,
    hub: Arc<Hub>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let (trigger, sd) = Trigger::new();
    let addr = listener
        .local_addr()
        .map_or_else(|_| cfg.orchestrator.listen.clone(), |a| a.to_string());
    let mut tasks = JoinSet::new();

    // The API first, so that /api/health answers 503 "starting" at once; it
    // stops last, so that it answers 503 "stopping" while the store flushes.
    let (api_trigger, api_sd) = Trigger::new();
    let mut api_task = {
        let app = api::router(hub.clone());
        tokio::spawn(api::serve(listener, app, api_sd))
    };
    let (opened_tx, opened_rx) = tokio::sync::oneshot::channel();
    tasks.spawn(store::store_loop(
        hub.clone(),
        store::StoreConfig {
            path: cfg.paths.database.clone(),
            keep: cfg.orchestrator.keep_readings,
            steps: cfg.orchestrator.backoff.0.clone(),
            alert_after: cfg.orchestrator.reconnect_after.max(1),
        },
        sd.clone(),
        opened_tx,
    ));
    for s in &cfg.sensors {
        tasks.spawn(supervisor::run_sensor(
            s.clone(),
            cfg.orchestrator.clone(),
            hub.clone(),
            sd.clone(),
        ));
    }
    if let Some(client) = ai {
        // SQLite off the runtime thread: a hung filesystem must not stall
        // the API and the signals.
        let history = {
            let path = cfg.paths.database.clone();
            tokio::task::spawn_blocking(move || store::last_action_runs(&path, crate::clock::now()))
                .await
                .unwrap_or_default()
        };
        // A slow AI never delays the sensors or the API: it has its own task.
        tasks.spawn(ai::run_ai(
            ai::Policy::new(&cfg.ai),
            client,
            Arc::new(actions::Allowlist::new(&cfg.actions).with_history(&history)),
            hub.clone(),
            sd.clone(),
        ));
    }
    tasks.spawn(watchdog::watchdog_loop(hub.clone(), sd.clone()));
    tasks.spawn(checkwatch::checkwatch_loop(
        hub.clone(),
        cfg.paths.state.clone(),
        cfg.check.interval,
        cfg.service.scope,
        sd.clone(),
    ));
    // Alert lines are written by one task: a hung filesystem stalls it
    // alone, never the loops that raise them.
    if let Some(rx) = hub.take_alert_rx() {
        tasks.spawn(appender::appender_loop(hub.clone(), rx, sd.clone()));
    }
    if let Some(rx) = hub.take_notify_rx() {
        tasks.spawn(forward::notify_loop(
            rx,
            cfg.clone(),
            hub.alerts.clone(),
            sd.clone(),
        ));
    }

    tokio::pin!(shutdown);
    let (stopped_early, fatal) = tokio::select! {
        r = opened_rx => match r {
            // A database from a newer grokmon: retrying cannot help, and
            // 78 tells systemd not to restart in a loop.
            Ok(Err(e)) => (true, Some(ConfigError(e.full()))),
            _ => (false, None),
        },
        _ = &mut shutdown => (true, None),
    };
    if !stopped_early {
        hub.set_phase(Phase::Running);
        systemd_notify::send(&[NotifyState::Ready, NotifyState::Status(&hub.summary())]);
        hub.event(
            Level::Info,
            "run",
            format!(
                "serving on http://{addr} with {} sensors, database {}",
                cfg.sensors.len(),
                cfg.paths.database.display()
            ),
        )
        .await;
        shutdown.await;
    }
    hub.set_phase(Phase::Stopping);
    systemd_notify::send(&[NotifyState::Stopping]);
    hub.event(Level::Info, "run", "stopping".to_string()).await;
    trigger.fire();
    while let Some(r) = tasks.join_next().await {
        if let Err(e) = r
            && e.is_panic()
        {
            crate::errln!("a task panicked while stopping: {e}");
        }
    }
    api_trigger.fire();
    // The graceful shutdown waits for every open connection, and a client
    // that never finishes its request (slowloris) would hold the stop until
    // the forced deadline, racing systemd's SIGKILL: in-flight answers get
    // API_DRAIN, then the server is dropped.
    match tokio::time::timeout(API_DRAIN, &mut api_task).await {
        Ok(Err(e)) => crate::errln!("the health API task failed: {e}"),
        Ok(Ok(())) => {}
        Err(_) => {
            api_task.abort();
            crate::errln!(
                "health API: dropped connections still open after {}",
                humantime::format_duration(API_DRAIN)
            );
        }
    }
    match fatal {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}
