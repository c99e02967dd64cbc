//! The status page at `/`: what `audit` says, live, where people look first. Rendered on
//! the server from the latest snapshot (no script, no external asset: it works
//! air-gapped), every value from the cluster escaped by maud. The node table is capped,
//! so the page stays small at 5,000 nodes; `/status.json` has everything.

use std::borrow::Cow;

use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::accounting::{EniState, Headroom, NodeReport, Snapshot, headroom};
use crate::model::Owner;
use crate::report::{self, text};

/// Nodes shown, fullest first; the rest are counted.
pub const NODES_SHOWN: usize = 50;
/// Holders and waiting pods shown; the rest are counted.
pub const ROWS_SHOWN: usize = 200;
/// A remedy longer than this (a delete command naming thousands of pods) is cut: the
/// page stays small, and `audit` prints it whole.
pub const REMEDY_BYTES: usize = 1_500;
/// The shortest auto-refresh period `?refresh=` may ask for.
pub const MIN_REFRESH_SECONDS: u32 = 10;

/// One source's health, as the process metrics have it.
pub struct SourceHealth {
    pub name: &'static str,
    pub up: bool,
    pub last_success: Option<jiff::Timestamp>,
}

const STYLE: &str = "
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.6em 0 .4em}
table{border-collapse:collapse}th,td{padding:.2em .7em;text-align:left;border-bottom:1px solid #ddd}
td.n,th.n{text-align:right}tr.full td{background:#fde2e2}tr.full td.remaining{color:#b00;font-weight:bold}
.summary{font-size:1.1em;font-weight:600}.down{color:#b00;font-weight:bold}.up{color:#070}
.muted{color:#666}.bar{background:#e6e6e6;width:12em;height:.8em;display:inline-block}
.bar span{background:#3a7;height:100%;display:block}.bar.low span{background:#c33}
code{background:#f4f4f4;padding:0 .2em}li{margin:.3em 0}
";

/// The page; `refresh` is `?refresh=N` (seconds, at least [`MIN_REFRESH_SECONDS`]).
pub fn render(
    snapshot: Option<&Snapshot>,
    sources: &[SourceHealth],
    not_ready: Option<&str>,
    refresh: Option<u32>,
) -> String {
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                @if let Some(seconds) = refresh {
                    meta http-equiv="refresh" content=(seconds.max(MIN_REFRESH_SECONDS));
                }
                title { "pod-eni-exporter" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                h1 { "pod-eni-exporter" }
                p.muted {
                    "Branch ENIs per node for EKS security groups for pods, as EC2 sees them. "
                    a href="status.json" { "status.json" } " · "
                    a href="metrics" { "metrics" } " · "
                    a href="healthz" { "healthz" } " · "
                    a href="readyz" { "readyz" }
                }
                @if let Some(missing) = not_ready {
                    p.down id="not-ready" { "Not ready: " (missing) }
                }
                (sources_table(sources, snapshot.map(|s| s.observed.at)))
                @if let Some(snapshot) = snapshot {
                    (report(snapshot))
                }
            }
        }
    };
    page.into_string()
}

fn sources_table(sources: &[SourceHealth], now: Option<jiff::Timestamp>) -> Markup {
    html! {
        h2 { "Sources" }
        table id="sources" {
            tr { th { "source" } th { "state" } th { "last good sync" } th.n { "age" } }
            @for source in sources {
                tr {
                    td { (source.name) }
                    td { @if source.up { span.up { "up" } } @else { span.down { "down" } } }
                    td { (source.last_success.map_or_else(|| "never".to_owned(), |t| t.to_string())) }
                    td.n { (age(source.last_success, now)) }
                }
            }
        }
    }
}

fn report(snapshot: &Snapshot) -> Markup {
    let mut nodes: Vec<&NodeReport> = snapshot.nodes.iter().map(|n| &**n).collect();
    // Fullest first: no slot left, then fewest left; nodes without a figure last.
    nodes.sort_by(|a, b| {
        (!a.is_full(), a.remaining.is_none(), a.remaining, &a.name).cmp(&(
            !b.is_full(),
            b.remaining.is_none(),
            b.remaining,
            &b.name,
        ))
    });
    let room = headroom(snapshot, 1);
    html! {
        p.summary id="summary" { (report::summary(snapshot).trim()) }
        p.muted { "Ages as of " (snapshot.observed.at) " (" (snapshot.observed.from.describe()) ")." }
        h2 { "Nodes" }
        table id="nodes" {
            tr {
                th { "node" } th { "zone" } th { "node group" } th { "instance type" }
                th.n { "capacity" } th.n { "requested" } th.n { "in use" } th.n { "completed" }
                th.n { "orphaned" } th.n { "leaked" } th.n { "waiting" } th.n { "remaining" }
            }
            @for node in nodes.iter().take(NODES_SHOWN) {
                tr.full[node.is_full()] data-node=(node.name) {
                    td { (node.name) @if node.unschedulable { " " span.muted { "(cordoned)" } } }
                    td { (node.zone.as_deref().unwrap_or("-")) }
                    td { (node.nodegroup.as_deref().unwrap_or("-")) }
                    td { (node.instance_type.as_deref().unwrap_or("-")) }
                    td.n { (node.capacity.map_or_else(|| "?".to_owned(), |c| c.to_string())) }
                    td.n { (node.requested) }
                    td.n { (node.branch_enis.get(EniState::InUse)) }
                    td.n { (node.branch_enis.get(EniState::CompletedPod)) }
                    td.n { (node.branch_enis.get(EniState::Orphaned)) }
                    td.n { (node.branch_enis.get(EniState::Leaked)) }
                    td.n { (node.waiting) }
                    td.n.remaining {
                        @match node.remaining {
                            Some(0) if node.is_full() => "0 FULL",
                            Some(n) => (n),
                            None => "?",
                        }
                    }
                }
            }
        }
        @if nodes.len() > NODES_SHOWN {
            p.muted { "… and " (nodes.len() - NODES_SHOWN) " more nodes with room (all in status.json)." }
        }
        @if !snapshot.holders.is_empty() {
            h2 { "Branch ENIs held without a running pod" }
            table id="holders" {
                tr { th { "ENI" } th { "node" } th { "state" } th { "since" } th { "pod" } th { "owner" } }
                @for holder in snapshot.holders.iter().take(ROWS_SHOWN) {
                    tr {
                        td { code { (holder.eni_id) } }
                        td { (holder.node) }
                        td { (holder.state.as_str()) }
                        td {
                            @match (holder.since, holder.unknown_age()) {
                                (Some(since), _) => (since),
                                (None, Some(unknown)) => span title=(report::unknown_age_note(unknown)) { "unknown" },
                                (None, None) => "-",
                            }
                        }
                        td { (holder.pod.as_ref().map_or_else(|| "-".to_owned(), |p| p.pod_name().to_string())) }
                        td { (holder.pod.as_ref().and_then(|p| p.owner.as_ref()).map_or_else(|| "-".to_owned(), Owner::to_string)) }
                    }
                }
            }
            (more(snapshot.holders.len(), "holders"))
        }
        @if !snapshot.waiting_pods.is_empty() {
            h2 { "Pods waiting for a branch ENI" }
            table id="waiting" {
                tr { th { "pod" } th { "node" } th { "waiting since" } th.n { "waited" } }
                @for pod in snapshot.waiting_pods.iter().take(ROWS_SHOWN) {
                    tr {
                        td { (pod.namespace) "/" (pod.name) }
                        td { (pod.node) }
                        td { (pod.since.map_or_else(|| "-".to_owned(), |t| t.to_string())) }
                        td.n { (age(pod.since, Some(snapshot.observed.at))) }
                    }
                }
            }
            (more(snapshot.waiting_pods.len(), "waiting pods"))
        }
        @if !snapshot.unschedulable_pods.is_empty() {
            h2 { "Pods no node can take for want of a branch ENI slot" }
            table id="unschedulable" {
                tr { th { "pod" } th.n { "ENIs" } th { "unschedulable since" } th.n { "waited" } th { "scheduler says" } }
                @for pod in snapshot.unschedulable_pods.iter().take(ROWS_SHOWN) {
                    tr {
                        td { (pod.namespace) "/" (pod.name) }
                        td.n { (pod.enis_needed) }
                        td { (pod.since.map_or_else(|| "-".to_owned(), |t| t.to_string())) }
                        td.n { (age(pod.since, Some(snapshot.observed.at))) }
                        td { (shortened(&pod.message)) }
                    }
                }
            }
            (more(snapshot.unschedulable_pods.len(), "unschedulable pods"))
        }
        h2 { "What to do" }
        ul id="remedies" {
            @for hint in report::hints(snapshot) {
                li { (shortened(&hint)) }
            }
        }
        @if !snapshot.subnets.is_empty() {
            h2 { "Subnets" }
            table id="subnets" {
                tr { th { "subnet" } th { "name" } th { "zone" } th.n { "free IPs" } th.n { "usable" } th { "" } }
                @for subnet in &snapshot.subnets {
                    @let free = subnet.subnet.available_ip_addresses;
                    @let share = subnet.ip_addresses.filter(|&n| n > 0).map(|n| (free as f64 / n as f64).min(1.0));
                    tr {
                        td { code { (subnet.subnet.id) } }
                        td { (subnet.subnet.name.as_deref().unwrap_or("-")) }
                        td { (subnet.subnet.availability_zone.as_deref().unwrap_or("-")) }
                        td.n { (free) }
                        td.n { (subnet.ip_addresses.map_or_else(|| "-".to_owned(), |n| n.to_string())) }
                        td {
                            @if let Some(share) = share {
                                span.bar.low[share < 0.1] title=(format!("{:.0} % free", share * 100.0)) {
                                    span style=(format!("width:{:.1}%", share * 100.0)) {}
                                }
                            }
                        }
                    }
                }
            }
        }
        (headroom_tables(&room))
    }
}

fn headroom_tables(room: &Headroom) -> Markup {
    html! {
        h2 { "Headroom: where more security-group pods can go" }
        @if room.cordoned > 0 {
            p.muted { (room.cordoned) " cordoned node(s) left out." }
        }
        @for (title, id, groups) in [("zone", "headroom-zones", &room.by_zone), ("node group", "headroom-nodegroups", &room.by_nodegroup)] {
            table id=(id) {
                tr { th { (title) } th.n { "slots left" } th.n { "nodes" } th.n { "nodes with room" } }
                @for group in groups {
                    tr {
                        td { (group.name.as_deref().unwrap_or("-")) }
                        td.n { (group.remaining) }
                        td.n { (group.nodes) }
                        td.n { (group.fitting) }
                    }
                }
            }
        }
    }
}

fn more(total: usize, what: &str) -> Markup {
    html! {
        @if total > ROWS_SHOWN {
            p.muted { "… and " (total - ROWS_SHOWN) " more " (what) " (all in status.json)." }
        }
    }
}

fn shortened(hint: &str) -> Cow<'_, str> {
    text::cut(
        hint,
        REMEDY_BYTES,
        " … (cut here; `pod-eni-exporter audit` prints it whole)",
    )
}

/// How long ago `since` was at `now`.
fn age(since: Option<jiff::Timestamp>, now: Option<jiff::Timestamp>) -> String {
    match (since, now) {
        (Some(since), Some(now)) => text::age(now.duration_since(since)),
        _ => "-".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_are_measured_to_the_snapshot_time_and_a_dash_when_unknown() {
        let at = |s: i64| Some(jiff::Timestamp::from_second(s).unwrap());
        assert_eq!(age(at(0), at(3_900)), "1h 5m");
        assert_eq!(age(None, at(5)), "-");
    }

    #[test]
    fn refresh_is_off_unless_asked_and_never_faster_than_the_floor() {
        let page = |refresh| render(None, &[], Some("EC2 not polled yet"), refresh);
        assert!(!page(None).contains("http-equiv"));
        assert!(page(Some(3)).contains(r#"<meta http-equiv="refresh" content="10">"#));
        assert!(page(Some(60)).contains(r#"content="60""#));
        assert!(page(None).contains("Not ready: EC2 not polled yet"));
    }

    #[test]
    fn long_remedies_are_cut_on_a_character_boundary() {
        let long = "é".repeat(REMEDY_BYTES);
        let cut = shortened(&long);
        assert!(cut.len() <= REMEDY_BYTES && cut.starts_with("éé"));
        assert!(cut.ends_with("prints it whole)"));
        assert_eq!(shortened("short"), "short");
    }
}
