//! One node's part of a snapshot, computed from its own pods and branches: what the
//! incremental join recomputes when something touching that node changes.

use std::sync::Arc;

use jiff::Timestamp;

use super::super::rules::{self, EniClaims, NodePods};
use super::super::{
    Carry, Clock, Holder, MissingPod, NodeReport, Settings, StateCounts, WaitingPod,
};
use super::claimers::Claimers;
use super::view::InventoryView;
use crate::model::{InputWarning, NodeInfo, PodInfo};

/// A node's report and the lists it contributes to.
pub(super) struct NodeSlice {
    pub report: Option<Arc<NodeReport>>,
    pub holders: Vec<Arc<Holder>>,
    pub waiting: Vec<WaitingPod>,
    pub missing: Vec<MissingPod>,
    pub warnings: Vec<InputWarning>,
    /// What it hands to the next publish: its absent claims and release clocks.
    pub carry: Carry,
}

impl NodeSlice {
    /// When the clock alone could next give this node other figures, if ever: when one
    /// of its held ENIs turns `leaked` or `forgotten`; at once (the next publish) while
    /// such an ENI's age is not known or was not carried, or a claim on an absent ENI
    /// is not yet `missing`. A node is recomputed at a publish only when an event
    /// touched it or this time has come.
    pub fn next_due(&self, now: Timestamp, settings: &Settings) -> Option<Timestamp> {
        let held = self.holders.iter().map(|holder| {
            match self.carry.release.get(holder.eni_id.as_str()) {
                Some(release) => release.next_change(now, settings),
                None => Some(now),
            }
        });
        let claims = self.carry.absent_claims.values();
        let pending = claims.filter(|claim| !claim.missing).map(|_| Some(now));
        held.chain(pending).flatten().min()
    }
}

/// What every node's slice reads besides its own pods.
pub(super) struct Context<'a> {
    pub view: &'a InventoryView,
    pub claimers: &'a Claimers,
    pub previous: &'a Carry,
    pub clock: Clock,
    pub settings: &'a Settings,
}

impl Context<'_> {
    /// Who names `eni`, as the full join's claims would say.
    pub fn claims(&self, eni: &str) -> Option<EniClaims<'_>> {
        let mut claim = EniClaims::default();
        let mut claimers = self.claimers.of(eni).peekable();
        claimers.peek()?;
        for pod in claimers {
            let finished = pod
                .phase
                .is_terminal()
                .then(|| rules::known_finish(pod, Some(self.previous)))
                .flatten();
            claim.add(pod, finished);
        }
        Some(claim)
    }
}

/// The slice of included node `name`, whose live bound pods are `pods`.
pub(super) fn node_slice(
    name: &str,
    node: &NodeInfo,
    pods: &[Arc<PodInfo>],
    context: &Context,
) -> NodeSlice {
    let (clock, previous) = (context.clock, Some(context.previous));
    let mut carry = Carry::default();
    let mut node_pods = NodePods::default();
    for pod in pods {
        let associated = |eni: &str| context.view.is_associated(eni);
        let lost = rules::lost_enis(pod, associated, clock, previous, &mut carry);
        node_pods.add(pod, name, lost);
    }
    let (placed, trunk) = context.view.placed(name);
    let mut states = StateCounts::default();
    let mut holders = Vec::new();
    for eni in placed {
        let claim = context.claims(&eni.id);
        let branch = rules::branch(eni, name, claim.as_ref(), previous, clock, context.settings);
        states.add(branch.state);
        if let Some((holder, carried)) = branch.held {
            holders.push(Arc::new(holder));
            if let Some(release) = carried {
                carry.release.insert(eni.id.clone(), release);
            }
        }
    }
    let mut warnings = Vec::new();
    let report = rules::node_report(name, node, &node_pods.tally, states, trunk, &mut warnings);
    holders.sort_by(|a, b| (a.state, &a.eni_id).cmp(&(b.state, &b.eni_id)));
    NodeSlice {
        report: report.map(Arc::new),
        holders,
        waiting: node_pods.waiting,
        missing: node_pods.missing,
        warnings,
        carry,
    }
}
