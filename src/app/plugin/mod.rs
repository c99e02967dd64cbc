//! `kubectl pod-eni`: the audit where operators already type. kubectl runs any
//! `kubectl-pod_eni` on `PATH` for `kubectl pod-eni …` and hands it every argument after
//! the plugin's name, so this binary takes kubectl's usual flags itself (`--context`,
//! `--kubeconfig`, `-n`, `-o`) and reads the EKS cluster and region from the context
//! (`eks.rs`) instead of asking for them.
//!
//! It is a second binary of the crate (`src/bin/kubectl-pod_eni.rs`), not the exporter
//! dispatching on its own name: `cargo install` and the krew archive then put a
//! `kubectl-pod_eni` on `PATH` without a symlink step, and the exporter's flags stay
//! as they are.

pub mod eks;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use kube::config::Kubeconfig;

use super::cli::{LiveArgs, LogFormat};
use super::commands::{self, EXIT_INPUT_ERROR};
use crate::accounting::{
    self, DEFAULT_BRANCH_ENI_COOLDOWN, DEFAULT_EC2_POLL_INTERVAL, GraceOverrides,
};
use crate::k8s;
use crate::metrics::Metrics;
use crate::model::PodInfo;
use crate::report;
use crate::snapshot_dir::{self, Loaded, ReadLimits};

/// Branch ENIs (EKS security groups for pods) per node, as EC2 sees them: which node is
/// full, who holds its ENIs, and why a pod is stuck.
#[derive(Debug, Parser)]
#[command(name = "kubectl-pod_eni", bin_name = "kubectl pod-eni", version, about)]
pub struct PluginCli {
    #[command(subcommand)]
    pub command: Option<PluginCommand>,

    #[command(flatten)]
    pub target: Target,
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// One pod's answer: does it wait for a branch ENI, can no node take it, or is it
    /// fine; its node's figures and who holds the node's ENIs; what to do.
    Why {
        /// The pod's name (in `-n`, else the context's namespace, else `default`).
        pod: String,
    },
    /// One node's branch ENIs, their state and who holds them.
    Node {
        /// The node's name, as `kubectl get nodes` shows it.
        node: String,
    },
    /// Where more security-group pods could go: slots left per zone and node group,
    /// and the nodes with room (as `pod-eni-exporter audit --headroom`).
    Headroom {
        /// How many more pods (one branch ENI each) a node must take.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        pods: u32,
    },
}

/// kubectl's flags, and where the data comes from. Every one may follow the command.
#[derive(Debug, Args)]
pub struct Target {
    /// The kubeconfig context to use (default: the current one).
    #[arg(long, global = true)]
    pub context: Option<String>,

    /// The kubeconfig file (default: KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true)]
    pub kubeconfig: Option<PathBuf>,

    /// The namespace of `why`'s pod (default: the context's, else `default`).
    #[arg(short = 'n', long, global = true)]
    pub namespace: Option<String>,

    /// Output format: `json` for scripts; `wide` adds why each holder's pod failed
    /// (and, for `why`, the ENIs in use). Default: the table.
    #[arg(short = 'o', long, global = true, value_enum)]
    pub output: Option<PluginOutput>,

    /// The EKS cluster name (default: read from the context).
    #[arg(long, global = true)]
    pub cluster_name: Option<String>,

    /// The AWS region (default: read from the context, else the AWS SDK's chain).
    #[arg(long, global = true)]
    pub region: Option<String>,

    /// Read a snapshot directory (as `pod-eni-exporter audit --from`) instead of the
    /// live APIs.
    #[arg(long, global = true, value_name = "DIR")]
    pub from: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PluginOutput {
    Json,
    Wide,
}

/// The plugin's `main`: usage errors, unknown pods and nodes and unreadable input exit 2.
pub fn main() -> ExitCode {
    let cli = PluginCli::parse();
    if let Err(error) = super::logging::init(LogFormat::Plain) {
        eprintln!("error: {error}");
        return ExitCode::from(EXIT_INPUT_ERROR);
    }
    commands::runtime()
        .and_then(|runtime| runtime.block_on(run(cli)))
        .unwrap_or_else(|error| {
            eprintln!("error: {error:#}");
            ExitCode::from(EXIT_INPUT_ERROR)
        })
}

/// What one run read: the objects, and the namespace `why` looks in.
struct Read {
    loaded: Loaded,
    cooldown: std::time::Duration,
    namespace: String,
    /// Where a pod the join did not keep is looked up.
    origin: Origin,
}

enum Origin {
    Dir(PathBuf),
    Live(kube::Client),
}

async fn run(cli: PluginCli) -> anyhow::Result<ExitCode> {
    let target = &cli.target;
    let read = match &target.from {
        Some(dir) => read_dir(dir, target)?,
        None => read_live(target).await?,
    };
    let settings = GraceOverrides::default().settings(read.cooldown, DEFAULT_EC2_POLL_INTERVAL);
    let snapshot = read.loaded.join(&settings);
    let json = target.output == Some(PluginOutput::Json);
    let wide = target.output == Some(PluginOutput::Wide);
    let text = match &cli.command {
        None => render_audit(&snapshot, None, json),
        Some(PluginCommand::Headroom { pods }) => render_audit(
            &snapshot,
            Some(&accounting::headroom(&snapshot, *pods)),
            json,
        ),
        Some(PluginCommand::Node { node }) => {
            let Some(view) =
                report::node_enis(&snapshot, &read.loaded.pods, &read.loaded.inventory, node)
            else {
                bail!("{}", not_a_node(&read.loaded, node));
            };
            if json {
                report::render_node_json(&view)
            } else {
                report::render_node_table(&view, wide)
            }
        }
        Some(PluginCommand::Why { pod }) => {
            let Some(found) = find_pod(&read, pod).await? else {
                bail!(
                    "pod {pod:?} not found in namespace {:?} ({})",
                    read.namespace,
                    match &read.origin {
                        Origin::Dir(dir) => format!("snapshot {}", dir.display()),
                        Origin::Live(_) => "live".to_owned(),
                    }
                );
            };
            let why = report::why(&snapshot, &read.loaded.pods, &read.loaded.inventory, &found);
            if json {
                report::render_why_json(&why)
            } else {
                report::render_why_text(&why, wide)
            }
        }
    };
    commands::write_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}

fn render_audit(
    snapshot: &accounting::Snapshot,
    headroom: Option<&accounting::Headroom>,
    json: bool,
) -> String {
    if json {
        report::render_json(snapshot, headroom)
    } else {
        report::render_table(snapshot, headroom)
    }
}

/// Why a node name gave no answer: it is not there, or takes no part.
fn not_a_node(loaded: &Loaded, name: &str) -> String {
    if loaded.nodes.iter().any(|n| n.name == name) {
        format!(
            "node {name:?} does not use security groups for pods (no pod-eni capacity, trunk ENI or security-group pod)"
        )
    } else {
        format!("node {name:?} not found")
    }
}

/// The pod among those the join read, else looked up by itself (a pod without a
/// branch ENI is not kept by the join but is no unknown pod).
async fn find_pod(read: &Read, name: &str) -> anyhow::Result<Option<PodInfo>> {
    let namespace = read.namespace.as_str();
    if let Some(pod) = read
        .loaded
        .pods
        .iter()
        .find(|p| p.namespace.as_str() == namespace && p.name == name)
    {
        return Ok(Some(pod.clone()));
    }
    match &read.origin {
        Origin::Dir(dir) => Ok(snapshot_dir::find_pod(
            dir,
            &ReadLimits::default(),
            namespace,
            name,
        )?),
        Origin::Live(client) => k8s::get_pod(client, namespace, name)
            .await
            .with_context(|| format!("cannot read pod {namespace}/{name}")),
    }
}

fn read_dir(dir: &std::path::Path, target: &Target) -> anyhow::Result<Read> {
    let loaded = snapshot_dir::read_dir(dir, &ReadLimits::default())
        .with_context(|| format!("cannot read snapshot directory {}", dir.display()))?;
    Ok(Read {
        loaded,
        cooldown: DEFAULT_BRANCH_ENI_COOLDOWN,
        namespace: target
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_owned()),
        origin: Origin::Dir(dir.to_owned()),
    })
}

/// The live APIs of the context: the cluster and region from flags, else from the
/// context, said on stderr so a wrong guess is seen.
async fn read_live(target: &Target) -> anyhow::Result<Read> {
    let kubeconfig = match &target.kubeconfig {
        Some(path) => k8s::read_kubeconfig(path)?,
        None => Kubeconfig::read().context(
            "no kubeconfig (KUBECONFIG, ~/.kube/config); pass --kubeconfig, or --from DIR",
        )?,
    };
    let context = eks::infer(&kubeconfig, target.context.as_deref()).map_err(anyhow::Error::msg)?;
    let from_flag = |value: &Option<String>| {
        value.clone().map(|value| eks::Found {
            value,
            from: "the flag".to_owned(),
        })
    };
    let context_name = context
        .context
        .clone()
        .unwrap_or_else(|| "(none)".to_owned());
    let Some(cluster) = from_flag(&target.cluster_name).or(context.cluster_name) else {
        bail!(
            "cannot tell the EKS cluster from context {context_name:?} (no EKS ARN, no `aws eks get-token --cluster-name`): pass --cluster-name"
        );
    };
    let region = from_flag(&target.region).or(context.region);
    match &region {
        Some(region) => eprintln!(
            "kubectl pod-eni: context {context_name}: cluster {} (from {}), region {} (from {})",
            cluster.value, cluster.from, region.value, region.from
        ),
        None => eprintln!(
            "kubectl pod-eni: context {context_name}: cluster {} (from {}), region from the AWS SDK's chain",
            cluster.value, cluster.from
        ),
    }
    let live = LiveArgs {
        cluster_name: Some(cluster.value),
        vpc_id: None,
        region: region.map(|r| r.value),
        kubeconfig: None,
        ec2_max_requests_per_second: 5.0,
    };
    let ec2 = commands::ec2_poller(&live, Metrics::default()).await?;
    let client = k8s::client_from(kubeconfig, target.context.as_deref()).await?;
    let (loaded, cooldown) = commands::read_live_with(&ec2, &client, k8s::list_compact)
        .await?
        .into_loaded();
    let namespace = target
        .namespace
        .clone()
        .or(context.namespace)
        .unwrap_or_else(|| "default".to_owned());
    Ok(Read {
        loaded,
        cooldown,
        namespace,
        origin: Origin::Live(client),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        PluginCli::command().debug_assert();
    }

    #[test]
    fn kubectl_flags_go_before_or_after_the_command() {
        let cli = PluginCli::try_parse_from([
            "kubectl-pod_eni",
            "why",
            "checkout",
            "-n",
            "shop",
            "-o",
            "json",
            "--context",
            "prod",
        ])
        .unwrap();
        assert_eq!(cli.target.namespace.as_deref(), Some("shop"));
        assert_eq!(cli.target.output, Some(PluginOutput::Json));
        assert_eq!(cli.target.context.as_deref(), Some("prod"));
        assert!(matches!(cli.command, Some(PluginCommand::Why { pod }) if pod == "checkout"));
        let bare = PluginCli::try_parse_from(["kubectl-pod_eni", "-o", "wide"]).unwrap();
        assert!(bare.command.is_none());
        assert!(PluginCli::try_parse_from(["kubectl-pod_eni", "-o", "yaml"]).is_err());
        assert!(PluginCli::try_parse_from(["kubectl-pod_eni", "headroom", "--pods", "0"]).is_err());
    }
}
