//! Command-line flags (DESIGN §7). Every flag has a `PODENI_*` environment fallback and
//! a doc comment, which clap turns into `--help`.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::accounting::{GraceOverrides, Settings};
use crate::ec2::{MAX_REQUEST_RATE, MIN_REQUEST_RATE};
use crate::report::Condition;

/// Default `/metrics` address. 9823 sits in the exporters' range (9100–9999) and is
/// used by none of the exporters an EKS cluster usually runs (node 9100, blackbox 9115,
/// CloudWatch 9106, process 9256, …).
pub const DEFAULT_LISTEN_ADDRESS: &str = "0.0.0.0:9823";

/// Branch ENIs per node for EKS security groups for pods, as EC2 sees them.
#[derive(Debug, Parser)]
#[command(name = "pod-eni-exporter", version, about, long_about = None)]
pub struct Cli {
    /// Log format.
    #[arg(long, global = true, env = "PODENI_LOG_FORMAT", value_enum, default_value_t = LogFormat::Plain)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Watch Kubernetes, poll EC2 and serve Prometheus metrics.
    Serve(ServeArgs),
    /// Print which nodes are full and who holds their branch ENIs, once.
    Audit(AuditArgs),
    /// Write a snapshot directory (kubectl / AWS CLI JSON) from the live APIs.
    Snapshot(SnapshotArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Plain,
    Json,
}

/// Where live data comes from.
#[derive(Debug, Clone, Args)]
pub struct LiveArgs {
    /// EKS cluster name: ENIs are selected by tag `kubernetes.io/cluster/<name>`.
    #[arg(long, env = "PODENI_CLUSTER_NAME")]
    pub cluster_name: Option<String>,

    /// Also list the subnets of this VPC (the VPCs of the trunk ENIs are always listed).
    #[arg(long, env = "PODENI_VPC_ID")]
    pub vpc_id: Option<String>,

    /// AWS region; defaults to the SDK chain (AWS_REGION, profile, instance metadata).
    #[arg(long, env = "PODENI_REGION")]
    pub region: Option<String>,

    /// Kubeconfig file; defaults to in-cluster config, then KUBECONFIG / ~/.kube/config.
    #[arg(long, env = "PODENI_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,

    /// Upper bound on EC2 API calls per second, to leave the shared account budget to
    /// the VPC resource controller and the CNI.
    #[arg(
        long,
        env = "PODENI_EC2_MAX_REQUESTS_PER_SECOND",
        default_value_t = 5.0,
        value_parser = parse_request_rate
    )]
    pub ec2_max_requests_per_second: f64,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub live: LiveArgs,

    /// Serve a snapshot directory instead of the live APIs (re-read when files change).
    #[arg(long, env = "PODENI_FROM", value_name = "DIR")]
    pub from: Option<PathBuf>,

    /// How often to poll EC2 (at least 1s).
    #[arg(long, env = "PODENI_EC2_POLL_INTERVAL", value_parser = parse_period, allow_hyphen_values = true, default_value = "30s")]
    pub ec2_poll_interval: Duration,

    /// Largest snapshot file `--from` reads (2GiB, 500MB, …).
    #[arg(long, env = "PODENI_MAX_FILE_SIZE", value_parser = parse_size, allow_hyphen_values = true, default_value = "2GiB")]
    pub max_file_size: u64,

    #[command(flatten)]
    pub grace: GraceArgs,

    /// Address for /metrics, /healthz and /readyz: `host:port`, or `:port` for every
    /// interface.
    #[arg(long = "web.listen-address", env = "PODENI_WEB_LISTEN_ADDRESS", default_value = DEFAULT_LISTEN_ADDRESS, value_parser = parse_listen_address)]
    pub listen_address: SocketAddr,

    /// Open connections at most; at the cap the oldest idle connection is closed to
    /// let a new one in, and only when all are busy is a new one refused.
    #[arg(long = "web.max-connections", env = "PODENI_WEB_MAX_CONNECTIONS", default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// Bodies (`/metrics`, the status page, `/status.json`) rendered at once at most;
    /// further requests for them get 503 at once.
    #[arg(long = "web.max-requests", env = "PODENI_WEB_MAX_REQUESTS", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub max_requests: u32,

    /// Publish Warning Events where `kubectl describe` shows them: BranchENIExhausted and
    /// LeakedBranchENIs on Nodes, WaitingForBranchENI on Pods. Needs `create` and `patch`
    /// on events.events.k8s.io (README, "Events"). Live mode only.
    #[arg(long = "emit-events", env = "PODENI_EMIT_EVENTS")]
    pub emit_events: bool,

    /// With --emit-events: the least time between two writes about the same object and
    /// reason (an Event series is updated, not re-created).
    #[arg(long, env = "PODENI_EVENTS_MIN_INTERVAL", value_parser = parse_period, allow_hyphen_values = true, default_value = "1m")]
    pub events_min_interval: Duration,

    /// With --emit-events: Event writes per second at most, for the whole exporter.
    #[arg(long, env = "PODENI_EVENTS_MAX_WRITES_PER_SECOND", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub events_max_writes_per_second: u32,

    /// Web configuration file in the Prometheus exporter-toolkit format: TLS, client
    /// certificates, basic auth, response headers, rate limit (README, "Securing the
    /// endpoint"). Re-read, with the certificates it names, when they change.
    #[arg(
        long = "web.config.file",
        env = "PODENI_WEB_CONFIG_FILE",
        value_name = "FILE"
    )]
    pub web_config_file: Option<PathBuf>,

    /// Let /healthz and /readyz answer without basic auth, for kubelet probes (which
    /// cannot send credentials). They reveal only whether the exporter is up and synced.
    #[arg(
        long = "web.probes-without-auth",
        env = "PODENI_WEB_PROBES_WITHOUT_AUTH"
    )]
    pub probes_without_auth: bool,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub live: LiveArgs,

    /// Read a snapshot directory (nodes.json, pods.json, network-interfaces.json,
    /// subnets.json) instead of the live APIs.
    #[arg(long, env = "PODENI_FROM", value_name = "DIR")]
    pub from: Option<PathBuf>,

    /// Output format.
    #[arg(long, short, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,

    /// Exit 1 when any of these holds (comma-separated): a node with no branch ENI
    /// left, a leaked ENI, an ENI held by a completed pod, a pod waiting for an ENI, a
    /// running pod whose ENI is gone, a pod no node can take for want of a pod-eni slot.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub fail_on: Vec<Condition>,

    /// Also say where more security-group pods could go: branch ENI slots left per zone
    /// and node group, and the nodes with room for `--pods` more (cordoned nodes left out).
    #[arg(long)]
    pub headroom: bool,

    /// With `--headroom`: how many more pods (one branch ENI each) a node must take.
    #[arg(long, default_value_t = 1, requires = "headroom", value_parser = parse_pods, allow_hyphen_values = true)]
    pub pods: u32,

    /// Largest snapshot file `--from` reads (2GiB, 500MB, …).
    #[arg(long, env = "PODENI_MAX_FILE_SIZE", value_parser = parse_size, allow_hyphen_values = true, default_value = "2GiB")]
    pub max_file_size: u64,

    #[command(flatten)]
    pub grace: GraceArgs,
}

/// When a branch ENI counts as leaked. The defaults follow the controller's timings
/// (README, "How it decides").
#[derive(Debug, Clone, Args)]
pub struct GraceArgs {
    /// How long after its last pod completed a branch ENI may stay before it counts as
    /// leaked [default: cool-down + 30 s + 30 s poll + 60 s = 3m]
    #[arg(long, env = "PODENI_COMPLETED_LEAK_GRACE", value_parser = parse_period, allow_hyphen_values = true)]
    pub completed_leak_grace: Option<Duration>,

    /// How long a branch ENI may be named by no pod before it counts as leaked
    /// [default: 15 min node reconciliation + 5 min node status period + the above = 23m]
    #[arg(long, env = "PODENI_ORPHAN_LEAK_GRACE", value_parser = parse_period, allow_hyphen_values = true)]
    pub orphan_leak_grace: Option<Duration>,

    /// The controller's cool-down (`branch-eni-cooldown` in ConfigMap
    /// kube-system/amazon-vpc-cni) [default: read from that ConfigMap when the exporter
    /// may, else 60s]
    #[arg(long, env = "PODENI_BRANCH_ENI_COOLDOWN", value_parser = parse_period, allow_hyphen_values = true)]
    pub branch_eni_cooldown: Option<Duration>,
}

impl GraceArgs {
    /// What the flags set of the graces.
    pub fn overrides(&self) -> GraceOverrides {
        GraceOverrides {
            completed: self.completed_leak_grace,
            orphan: self.orphan_leak_grace,
            cooldown: self.branch_eni_cooldown,
        }
    }

    /// The graces for a cool-down (the flag's, else `cooldown`) and a poll interval;
    /// a grace given as a flag wins over the derived one.
    pub fn settings(&self, cooldown: Duration, poll_interval: Duration) -> Settings {
        self.overrides().settings(cooldown, poll_interval)
    }
}

/// Periods and graces are at most a day: a longer one is a typo, and one of centuries
/// would overflow the time arithmetic built on it.
pub const MAX_PERIOD: Duration = Duration::from_secs(24 * 3600);

/// A period of at least a second: shorter polls would defeat the backoff, and a grace
/// of nothing would make every ENI in cool-down leaked.
fn parse_period(text: &str) -> Result<Duration, String> {
    if text.trim_start().starts_with('-') {
        return Err(format!("{text:?}: a duration cannot be negative"));
    }
    let period = humantime::parse_duration(text).map_err(|error| format!("{text:?}: {error}"))?;
    if period < Duration::from_secs(1) {
        return Err(format!("{text:?} is under the 1s minimum"));
    }
    if period > MAX_PERIOD {
        return Err(format!("{text:?} is over the 24h maximum"));
    }
    Ok(period)
}

/// How many more pods `--headroom` looks for: a whole number of at least 1.
fn parse_pods(text: &str) -> Result<u32, String> {
    match text.trim().parse::<i64>() {
        Ok(pods) if pods >= 1 => u32::try_from(pods).map_err(|_| format!("{text:?} is too many")),
        Ok(_) => Err(format!("{text:?}: the number of pods must be at least 1")),
        Err(_) => Err(format!("{text:?} is not a whole number of pods")),
    }
}

/// Requests per second, between one a minute and 1,000 (EC2's own account limits are
/// far below that): zero, negative, NaN or infinite make no sense.
fn parse_request_rate(text: &str) -> Result<f64, String> {
    let rate: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    if !(MIN_REQUEST_RATE..=MAX_REQUEST_RATE).contains(&rate) {
        return Err(format!("{text:?} is outside 0.017 (one a minute) to 1000"));
    }
    Ok(rate)
}

fn parse_size(text: &str) -> Result<u64, String> {
    if text.trim_start().starts_with('-') {
        return Err(format!("{text:?}: a size cannot be negative"));
    }
    let size: bytesize::ByteSize = text.trim().parse()?;
    if size.as_u64() == 0 {
        return Err("a size of 0 would refuse every file".into());
    }
    Ok(size.as_u64())
}

/// `host:port` (a name is resolved), or `:port` for every IPv4 interface as other
/// exporters accept it.
fn parse_listen_address(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    let full = match text.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => text.to_owned(),
    };
    if let Ok(address) = full.parse() {
        return Ok(address);
    }
    full.to_socket_addrs()
        .map_err(|error| format!("{text:?}: {error}"))?
        .next()
        .ok_or_else(|| format!("{text:?} resolves to no address"))
}

#[derive(Debug, Args)]
pub struct SnapshotArgs {
    #[command(flatten)]
    pub live: LiveArgs,

    /// Directory to write the four files to (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounting::{DEFAULT_BRANCH_ENI_COOLDOWN, DEFAULT_EC2_POLL_INTERVAL};
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn fail_on_takes_a_comma_list() {
        let cli = Cli::try_parse_from([
            "pod-eni-exporter",
            "audit",
            "--from",
            "dir",
            "--fail-on",
            "exhausted,leaked",
        ])
        .expect("parses");
        let Command::Audit(args) = cli.command else {
            panic!("audit expected");
        };
        assert_eq!(args.fail_on, vec![Condition::Exhausted, Condition::Leaked]);
        assert_eq!(
            args.grace
                .settings(DEFAULT_BRANCH_ENI_COOLDOWN, DEFAULT_EC2_POLL_INTERVAL),
            Settings::default(),
            "without flags the graces are the core's defaults"
        );
    }

    #[test]
    fn flags_that_make_no_sense_are_refused() {
        let audit = |flags: &[&str]| {
            let mut args = vec!["pod-eni-exporter", "audit", "--from", "dir"];
            args.extend_from_slice(flags);
            Cli::try_parse_from(args)
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        for rate in ["0", "-1", "NaN", "inf", "1e10", "1e300", "1e-300", "x"] {
            let flag = format!("--ec2-max-requests-per-second={rate}");
            let error = audit(&[&flag]).expect_err(rate);
            assert!(error.contains("ec2-max-requests-per-second"), "{error}");
        }
        assert!(audit(&["--ec2-max-requests-per-second", "0.5"]).is_ok());
        for grace in ["0s", "1ns", "999ms"] {
            let error = audit(&["--completed-leak-grace", grace]).expect_err(grace);
            assert!(error.contains("under the 1s minimum"), "{error}");
        }
        assert!(audit(&["--max-file-size", "0"]).is_err());
        assert!(audit(&["--max-file-size", "lots"]).is_err());
        let Command::Audit(args) = Cli::try_parse_from([
            "pod-eni-exporter",
            "audit",
            "--from",
            "d",
            "--max-file-size",
            "500MB",
        ])
        .unwrap()
        .command
        else {
            panic!("audit expected");
        };
        assert_eq!(args.max_file_size, 500_000_000);
    }

    #[test]
    fn listen_addresses_take_the_usual_exporter_forms() {
        let listen = |text: &str| {
            let cli = Cli::try_parse_from([
                "pod-eni-exporter",
                "serve",
                "--web.listen-address",
                text,
                "--ec2-poll-interval",
                "1s",
            ])
            .map_err(|e| e.to_string())?;
            let Command::Serve(args) = cli.command else {
                panic!("serve expected");
            };
            Ok::<_, String>(args.listen_address)
        };
        assert_eq!(listen(":9823").unwrap(), "0.0.0.0:9823".parse().unwrap());
        assert!(listen("localhost:9823").unwrap().ip().is_loopback());
        assert_eq!(listen("[::1]:1").unwrap(), "[::1]:1".parse().unwrap());
        assert!(listen("9823").is_err());
        assert!(listen(":x").is_err());
    }

    #[test]
    fn grace_flags_win_over_the_cooldown() {
        let cli = Cli::try_parse_from([
            "pod-eni-exporter",
            "audit",
            "--from",
            "dir",
            "--orphan-leak-grace",
            "40m",
            "--branch-eni-cooldown",
            "5m",
        ])
        .expect("parses");
        let Command::Audit(args) = cli.command else {
            panic!("audit expected");
        };
        let settings = args
            .grace
            .settings(DEFAULT_BRANCH_ENI_COOLDOWN, DEFAULT_EC2_POLL_INTERVAL);
        assert_eq!(settings.orphan_grace, Duration::from_secs(40 * 60));
        assert_eq!(
            settings.completed_grace,
            Duration::from_secs(300 + 30 + 30 + 60),
            "the flag's cool-down replaces the ConfigMap's"
        );
    }
}
