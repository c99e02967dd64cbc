//! Wiring: each subcommand puts adapters, the join and a renderer together.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use jiff::Timestamp;

use tracing::Instrument;

use crate::accounting::{
    self, DEFAULT_BRANCH_ENI_COOLDOWN, DEFAULT_EC2_POLL_INTERVAL, Observed, ObservedFrom, Settings,
};
use crate::app::cli::{AuditArgs, Cli, Command, LiveArgs, OutputFormat, ServeArgs, SnapshotArgs};
use crate::ec2::{Ec2Poller, Ec2Settings};
use crate::http::server::{self, Endpoints, Limits, ReadinessCheck};
use crate::http::web::Web;
use crate::k8s::{self, KubeShared};
use crate::metrics::{Metrics, SharedSnapshot};
use crate::model::Inventory;
use crate::report::{conditions_holding, render_json, render_table};
use crate::snapshot_dir::{self, Loaded, ReadLimits};
use crate::source::dir::DirSource;
use crate::source::live::Live;

/// Exit code for usage and input errors (DESIGN §7).
pub const EXIT_INPUT_ERROR: u8 = 2;

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let runtime = runtime()?;
    match cli.command {
        Command::Audit(args) => runtime.block_on(audit(args)),
        Command::Serve(args) => runtime.block_on(serve(args)),
        Command::Snapshot(args) => runtime.block_on(snapshot(args)),
    }
}

/// Two workers: the exporter's work is a handful of long-lived tasks.
pub(super) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

async fn audit(args: AuditArgs) -> anyhow::Result<ExitCode> {
    let AuditArgs {
        live,
        from,
        output,
        fail_on,
        max_file_size,
        grace,
        headroom,
        pods,
    } = args;
    let (loaded, cooldown) = match from {
        Some(dir) => {
            let limits = ReadLimits { max_file_size };
            let loaded = snapshot_dir::read_dir(&dir, &limits).with_context(|| {
                format!("audit: cannot read snapshot directory {}", dir.display())
            })?;
            (loaded, DEFAULT_BRANCH_ENI_COOLDOWN)
        }
        None => read_live(&live, k8s::list_compact).await?.into_loaded(),
    };
    let settings = grace.settings(cooldown, DEFAULT_EC2_POLL_INTERVAL);
    warn_about_short_graces(&settings, cooldown);
    let snapshot = loaded.join(&settings);
    let headroom = headroom.then(|| accounting::headroom(&snapshot, pods));
    let text = match output {
        OutputFormat::Table => render_table(&snapshot, headroom.as_ref()),
        OutputFormat::Json => render_json(&snapshot, headroom.as_ref()),
    };
    write_stdout(&text)?;
    let holding = conditions_holding(&snapshot, &fail_on);
    if holding.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    let names: Vec<String> = holding
        .iter()
        .map(|c| format!("{c:?}").to_lowercase())
        .collect();
    eprintln!("audit: failing on: {}", names.join(", "));
    Ok(ExitCode::FAILURE)
}

/// Writes the report. A closed pipe (`audit | head`) ends quietly, as other tools do;
/// any other write error (a full disk) is an error.
pub(super) fn write_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(error).context("audit: cannot write the report to standard output")
        }
        _ => Ok(()),
    }
}

/// A grace shorter than the controller's cool-down makes every ENI being released look
/// leaked: allowed (the user may know better) but said.
fn warn_about_short_graces(settings: &Settings, cooldown: std::time::Duration) {
    for (flag, grace) in [
        ("--completed-leak-grace", settings.completed_grace),
        ("--orphan-leak-grace", settings.orphan_grace),
    ] {
        if grace < cooldown {
            tracing::warn!(
                flag,
                grace = %humantime::format_duration(grace),
                cooldown = %humantime::format_duration(cooldown),
                "grace is shorter than the controller's cool-down: ENIs in cool-down will show as leaked"
            );
        }
    }
}

async fn snapshot(args: SnapshotArgs) -> anyhow::Result<ExitCode> {
    let SnapshotArgs { live, out } = args;
    let LiveRead {
        listed,
        inventory,
        observed,
        ..
    } = read_live(&live, k8s::list_all).await?;
    snapshot_dir::write_dir(&out, &listed.nodes, &listed.pods, &inventory, observed.at)?;
    for warning in &listed.warnings {
        eprintln!("snapshot: skipped {warning}");
    }
    eprintln!(
        "snapshot: wrote {} nodes, {} pods, {} network interfaces, {} subnets to {}",
        listed.nodes.len(),
        listed.pods.len(),
        inventory.enis.len(),
        inventory.subnets.len(),
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Everything one live read gives: nodes and pods as `list` reads them, one EC2 poll,
/// when the read began, and the controller's cool-down when it can be read.
pub(super) struct LiveRead<L> {
    listed: L,
    inventory: Inventory,
    observed: Observed,
    cooldown: std::time::Duration,
}

impl LiveRead<k8s::Compact> {
    /// What a live audit joins, as a snapshot directory would give it, and the cool-down.
    pub(super) fn into_loaded(self) -> (Loaded, std::time::Duration) {
        let loaded = Loaded {
            nodes: self.listed.nodes,
            pods: self.listed.pods,
            inventory: self.inventory,
            warnings: self.listed.warnings,
            observed: self.observed,
        };
        (loaded, self.cooldown)
    }
}

/// [`read_live_with`] through the client `--kubeconfig` (or the usual inference) gives.
async fn read_live<L>(
    live: &LiveArgs,
    list: impl AsyncFnOnce(&kube::Client) -> Result<L, kube::Error>,
) -> anyhow::Result<LiveRead<L>> {
    let (ec2, client) = live_clients(live, Metrics::default()).await?;
    read_live_with(&ec2, &client, list).await
}

/// The EC2 poller, then the Kubernetes client: the EC2 side first, so a missing
/// `--cluster-name` is a usage error whatever the kubeconfig.
async fn live_clients(
    live: &LiveArgs,
    metrics: Metrics,
) -> anyhow::Result<(Ec2Poller, kube::Client)> {
    let ec2 = ec2_poller(live, metrics).await?;
    let client = k8s::client(live.kubeconfig.as_deref())
        .await
        .context("cannot configure the Kubernetes client")?;
    Ok((ec2, client))
}

/// One live read through `ec2` and `client` (the plugin's client comes from a
/// kubeconfig context).
pub(super) async fn read_live_with<L>(
    ec2: &Ec2Poller,
    client: &kube::Client,
    list: impl AsyncFnOnce(&kube::Client) -> Result<L, kube::Error>,
) -> anyhow::Result<LiveRead<L>> {
    // Ages are measured to when the read began: the objects are at least this new.
    let observed = Observed {
        at: Timestamp::now(),
        from: ObservedFrom::Live,
    };
    let listed = list(client).await.context("cannot list nodes and pods")?;
    let inventory = ec2.poll().await.context("cannot read EC2")?;
    let cooldown = k8s::read_cooldown(client)
        .await
        .map_or(DEFAULT_BRANCH_ENI_COOLDOWN, |setting| setting.cooldown());
    Ok(LiveRead {
        listed,
        inventory,
        observed,
        cooldown,
    })
}

pub(super) async fn ec2_poller(live: &LiveArgs, metrics: Metrics) -> anyhow::Result<Ec2Poller> {
    let Some(cluster_name) = live
        .cluster_name
        .clone()
        .filter(|name| !name.trim().is_empty())
    else {
        bail!(
            "--cluster-name (or PODENI_CLUSTER_NAME) is required to read the live APIs; or pass --from DIR"
        );
    };
    let client = Ec2Poller::client_from_env(live.region.clone()).await;
    Ok(Ec2Poller::new(
        client,
        Ec2Settings {
            cluster_name,
            vpc_id: live.vpc_id.clone(),
            max_requests_per_second: live.ec2_max_requests_per_second,
        },
        metrics,
    ))
}

async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    if args.emit_events && args.from.is_some() {
        anyhow::bail!("--emit-events needs the live APIs; it cannot be used with --from");
    }
    let snapshot = SharedSnapshot::default();
    let (mut registry, metrics) = Metrics::new_registry(snapshot.clone());
    crate::metrics::process::register(&mut registry);
    // Before anything else: a bad web config is an input error (exit 2), found at once.
    let web = Arc::new(Web::load(
        args.web_config_file.as_deref(),
        args.probes_without_auth,
        &mut registry,
    )?);
    web.reload_in_background();
    let listener = tokio::net::TcpListener::bind(args.listen_address)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen_address))?;
    let readiness = match &args.from {
        Some(dir) => start_from_dir(dir, &args, snapshot.clone(), metrics.clone()).await?,
        None => start_live(&args, snapshot.clone(), metrics.clone()).await?,
    };
    let address = listener.local_addr().unwrap_or(args.listen_address);
    let scheme = if web.current().tls.is_some() {
        "https"
    } else {
        "http"
    };
    tracing::info!(%address, scheme, "serving /metrics, /healthz, /readyz");
    let endpoints = Endpoints {
        registry,
        readiness,
        snapshot,
        metrics,
        scrapes: tokio::sync::Semaphore::new(args.max_requests as usize),
    };
    let limits = Limits {
        max_connections: args.max_connections as usize,
    };
    server::serve(
        listener,
        Arc::new(endpoints),
        web,
        limits,
        shutdown_signal(),
    )
    .await;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// `serve --from DIR`: the directory read now (an unreadable one ends the process),
/// then re-read whenever it changes.
async fn start_from_dir(
    dir: &std::path::Path,
    args: &ServeArgs,
    snapshot: SharedSnapshot,
    metrics: Metrics,
) -> anyhow::Result<ReadinessCheck> {
    let settings = args
        .grace
        .settings(DEFAULT_BRANCH_ENI_COOLDOWN, args.ec2_poll_interval);
    warn_about_short_graces(&settings, DEFAULT_BRANCH_ENI_COOLDOWN);
    let limits = ReadLimits {
        max_file_size: args.max_file_size,
    };
    let source = DirSource::new(dir.to_owned(), limits, settings, snapshot, metrics)
        .start()
        .await
        .with_context(|| format!("serve: cannot read snapshot directory {}", dir.display()))?;
    Ok(Arc::new(move || source.readiness()))
}

/// `serve` on the live APIs: the watchers, the EC2 poller and the join loop, and the
/// Event emitter when asked for.
async fn start_live(
    args: &ServeArgs,
    snapshot: SharedSnapshot,
    metrics: Metrics,
) -> anyhow::Result<ReadinessCheck> {
    let cooldown = args
        .grace
        .branch_eni_cooldown
        .unwrap_or(DEFAULT_BRANCH_ENI_COOLDOWN);
    warn_about_short_graces(
        &args.grace.settings(cooldown, args.ec2_poll_interval),
        cooldown,
    );
    let (ec2, client) = live_clients(&args.live, metrics.clone()).await?;
    if args.emit_events {
        let emitter = k8s::EventEmitter::new(
            client.clone(),
            std::env::var("HOSTNAME").ok(),
            args.events_min_interval,
            std::num::NonZeroU32::new(args.events_max_writes_per_second)
                .unwrap_or(std::num::NonZeroU32::MIN),
        );
        let follow = emitter.follow(snapshot.clone(), metrics.clone());
        tokio::spawn(follow.instrument(tracing::info_span!("events")));
    }
    let live = Live::new(
        Arc::new(KubeShared::default()),
        ec2,
        args.ec2_poll_interval,
        args.grace.overrides(),
        snapshot,
        metrics,
    )
    .start(client);
    Ok(Arc::new(move || live.readiness()))
}

/// Resolves on the first SIGTERM (Kubernetes stopping the pod) or Ctrl-C; a second one
/// exits at once instead of waiting for open connections. SIGHUP (a closed terminal, a
/// habit of reload scripts) is logged and ignored rather than killing the exporter.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let listen = |kind: SignalKind| match signal(kind) {
        Ok(signal) => Some(signal),
        Err(error) => {
            tracing::warn!(%error, ?kind, "cannot listen for a signal");
            None
        }
    };
    let mut terminate = listen(SignalKind::terminate());
    let mut interrupt = listen(SignalKind::interrupt());
    let mut hangup = listen(SignalKind::hangup());
    async fn next(signal: &mut Option<tokio::signal::unix::Signal>) {
        match signal {
            Some(signal) => {
                signal.recv().await;
            }
            None => std::future::pending().await,
        }
    }
    loop {
        tokio::select! {
            () = next(&mut terminate) => break,
            () = next(&mut interrupt) => break,
            () = next(&mut hangup) => {
                tracing::info!("SIGHUP ignored (a --from directory is re-read when its files change)");
            }
        }
    }
    tracing::info!("shutting down; a second SIGTERM or Ctrl-C exits at once");
    tokio::spawn(async move {
        tokio::select! {
            () = next(&mut terminate) => {},
            () = next(&mut interrupt) => {},
        }
        tracing::warn!("second signal: exiting now");
        std::process::exit(130);
    });
}
