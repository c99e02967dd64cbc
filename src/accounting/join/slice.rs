//! One node's part of a snapshot, computed from its own pods and branches: what the
//! incremental join recomputes when something touching that node changes.

use std::sync::Arc;

use compact_str::CompactString;
use foldhash::HashMap;

use super::super::rules::{self, EniClaims, NodePods};
use super::super::{
    Carry, Clock, Holder, MissingPod, NodeReport, Settings, StateCounts, WaitingPod,
};
use super::view::InventoryView;
use crate::model::{InputWarning, NodeInfo, PodInfo};

/// A node's report and the lists it contributes to.
#[derive(Default)]
pub(super) struct NodeSlice {
    pub report: Option<NodeReport>,
    pub holders: Vec<Holder>,
    pub waiting: Vec<WaitingPod>,
    pub missing: Vec<MissingPod>,
    pub warnings: Vec<InputWarning>,
    /// What it hands to the next publish: its absent claims and release clocks.
    pub carry: Carry,
}

impl NodeSlice {
    /// Whether its figures can change with the clock alone (an ENI ageing towards
    /// `leaked`, a claim on an absent ENI becoming `missing`): such a node is checked at
    /// every publish with [`due`](Self::due), every other one only recomputed when an
    /// event touches it.
    pub fn follows_clock(&self) -> bool {
        !self.holders.is_empty() || !self.carry.absent_claims.is_empty()
    }

    /// Whether a publish at `clock` could give other figures than these: an ENI held
    /// without a live pod whose age is not known yet (or was not carried) or whose state
    /// or `forgotten` the clock has moved, or a claim on an absent ENI not yet missing.
    pub fn due(&self, clock: Clock, settings: &Settings) -> bool {
        let now = clock.now();
        let moved = |holder: &Holder| match self.carry.release.get(holder.eni_id.as_str()) {
            None => true,
            Some(release) => {
                !release.known
                    || release.state(now, settings) != holder.state
                    || release.forgotten(now, settings) != holder.forgotten
            }
        };
        self.holders.iter().any(moved) || self.carry.absent_claims.values().any(|c| !c.missing)
    }
}

/// What every node's slice reads besides its own pods.
pub(super) struct Context<'a> {
    pub view: &'a InventoryView,
    pub claimers: &'a HashMap<CompactString, Vec<Arc<PodInfo>>>,
    pub previous: &'a Carry,
    pub clock: Clock,
    pub settings: &'a Settings,
}

impl Context<'_> {
    /// Who names `eni`, as the full join's claims would say.
    pub fn claims(&self, eni: &str) -> Option<EniClaims<'_>> {
        let mut claim = EniClaims::default();
        for pod in self.claimers.get(eni)? {
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
            holders.push(holder);
            if let Some(release) = carried {
                carry.release.insert(eni.id.clone(), release);
            }
        }
    }
    let mut warnings = Vec::new();
    let report = rules::node_report(name, node, &node_pods.tally, states, trunk, &mut warnings);
    NodeSlice {
        report,
        holders,
        waiting: node_pods.waiting,
        missing: node_pods.missing,
        warnings,
        carry,
    }
}
