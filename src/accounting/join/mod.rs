//! The incremental join of the live loop: the same [`Snapshot`] as
//! [`reconcile`](super::reconcile) over the same inputs, kept current by events instead
//! of recomputed from everything on each change.
//!
//! A pod or node event updates the indexes it touches and marks the nodes whose figures
//! it can move: the node it is bound to, and the nodes of the ENIs it names. An EC2 poll
//! rebuilds the inventory view and marks the nodes whose branches, trunk or claimed
//! ENIs changed. [`Join::publish`] then recomputes only the marked nodes and those the
//! clock has reached (each slice says when an ENI it holds without a live pod turns
//! `leaked` or `forgotten`), and assembles the snapshot from every node's last slice,
//! sharing each unchanged node's report and holders with the previous snapshot.
//!
//! `reconcile` stays the oracle: `tests` drives random event sequences through both
//! and requires identical snapshots after each publish.

mod claimers;
mod slice;
mod view;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;

use compact_str::CompactString;
use foldhash::{HashMap, HashSet};
use jiff::Timestamp;

use super::rules;
use super::{Carry, Clock, Observed, ObservedFrom, Settings, Snapshot, UnschedulablePod};
use crate::model::{InputWarning, Inventory, Keyed, KeyedTable, NodeInfo, PodInfo, key_parts};
use claimers::Claimers;
use slice::{Context, NodeSlice};
use view::{InventoryView, NodeView};

#[derive(Default)]
pub struct Join {
    /// Every node, by name.
    nodes: BTreeMap<String, Arc<NodeInfo>>,
    /// Every pod, found by its own namespace and name.
    pods: KeyedTable<Arc<PodInfo>>,
    /// Live pods by the node name they are bound to, whether that node is there or not.
    bound: HashMap<String, Vec<Arc<PodInfo>>>,
    /// The names in `bound` no node has (`None`: to be found again, after a node or a
    /// pod bound to no node changed), so a publish does not look up every bound name.
    orphans: Option<Vec<String>>,
    /// Pods by the ENIs their annotation names.
    claimers: Claimers,
    /// Finished pods that name ENIs: their ENIs' release clocks outlive the inventory.
    finished: HashMap<String, Arc<PodInfo>>,
    /// Those whose status has no finish time: theirs is carried.
    undated: HashMap<String, Arc<PodInfo>>,
    /// `undated` changed since the carry's finish times were last patched.
    undated_changed: bool,
    /// The ENIs finished pods name that EC2 does not show associated (`None`: to be
    /// found again, after a finished pod or the inventory changed).
    unseen_candidates: Option<Vec<CompactString>>,
    unschedulable: HashMap<String, UnschedulablePod>,
    pod_warnings: HashMap<String, Vec<InputWarning>>,
    node_view: NodeView,
    nodes_changed: bool,
    view: InventoryView,
    inventory_changed: Option<Arc<Inventory>>,
    /// The last slice of every included node, in name order.
    slices: BTreeMap<String, NodeSlice>,
    /// Nodes to recompute at the next publish.
    dirty: HashSet<String>,
    /// Nodes whose figures follow the clock: when they are due
    /// ([`NodeSlice::next_due`]), and the time their slice was computed for (a clock
    /// that went back, a source recovering with an older view, recomputes them too).
    ticking: HashMap<String, (Timestamp, Timestamp)>,
    /// What the last publish carried (empty before the first), as the full join's
    /// snapshot carries it; updated in place.
    carry: Carry,
    /// The release clocks in `carry` of ENIs EC2 does not show associated.
    unseen: Vec<CompactString>,
}

impl Join {
    /// A pod was added or changed.
    pub fn upsert_pod(&mut self, pod: Arc<PodInfo>) {
        let old = self.pods.get(pod.key_parts());
        if old.is_some_and(|old| **old == *pod) {
            return;
        }
        let key = pod.key();
        if let Some(old) = old.cloned() {
            self.unindex_pod(&key, &old);
        }
        self.index_pod(&key, &pod);
        self.pods.insert(pod);
    }

    /// A pod was deleted; `key` is its [`key_string`](crate::model::key_string).
    pub fn remove_pod(&mut self, key: &str) {
        if let Some(old) = self.pods.remove(key_parts(key)) {
            self.unindex_pod(key, &old);
        }
    }

    /// A node was added or changed.
    pub fn upsert_node(&mut self, node: Arc<NodeInfo>) {
        if self.nodes.get(&node.name).is_some_and(|old| **old == *node) {
            return;
        }
        self.dirty.insert(node.name.clone());
        self.nodes.insert(node.name.clone(), node);
        self.nodes_changed = true;
        self.orphans = None;
    }

    /// A node was deleted.
    pub fn remove_node(&mut self, name: &str) {
        if self.nodes.remove(name).is_some() {
            self.dirty.insert(name.to_owned());
            self.nodes_changed = true;
            self.orphans = None;
        }
    }

    /// An EC2 poll delivered an inventory (the one the join has already is no change).
    pub fn set_inventory(&mut self, inventory: Arc<Inventory>) {
        let current = self
            .inventory_changed
            .clone()
            .unwrap_or(self.view.inventory());
        if !Arc::ptr_eq(&current, &inventory) {
            self.inventory_changed = Some(inventory);
        }
    }

    /// Every node there is, after a (re-)list: what is not listed is gone.
    pub fn replace_nodes(&mut self, nodes: Vec<Arc<NodeInfo>>) {
        let listed: HashSet<&str> = nodes.iter().map(|node| node.name.as_str()).collect();
        let gone: Vec<String> = (self.nodes.keys())
            .filter(|name| !listed.contains(name.as_str()))
            .cloned()
            .collect();
        gone.iter().for_each(|name| self.remove_node(name));
        nodes.into_iter().for_each(|node| self.upsert_node(node));
    }

    /// Every pod there is, after a (re-)list: what is not listed is gone.
    pub fn replace_pods(&mut self, pods: Vec<Arc<PodInfo>>) {
        let listed: HashSet<(&str, &str)> = pods.iter().map(|pod| pod.key_parts()).collect();
        let gone: Vec<String> = (self.pods.iter())
            .filter(|pod| !listed.contains(&pod.key_parts()))
            .map(|pod| pod.key())
            .collect();
        gone.iter().for_each(|key| self.remove_pod(key));
        pods.into_iter().for_each(|pod| self.upsert_pod(pod));
    }

    /// The snapshot as of `clock`: recomputes the nodes events touched and those the
    /// clock has moved, then assembles every node's last slice. Its `carry` is empty:
    /// the join keeps its own ([`carry`](Self::carry)).
    pub fn publish(&mut self, clock: Clock, settings: &Settings) -> Snapshot {
        self.refresh_views();
        let mut targets = std::mem::take(&mut self.dirty);
        let now = clock.now();
        let due = |(_, (due_at, computed_at)): &(&String, &(Timestamp, Timestamp))| {
            now >= *due_at || now < *computed_at
        };
        targets.extend(
            self.ticking
                .iter()
                .filter(due)
                .map(|(name, _)| name.clone()),
        );
        let context = Context {
            view: &self.view,
            claimers: &self.claimers,
            previous: &self.carry,
            clock,
            settings,
        };
        let recomputed: Vec<(String, Option<NodeSlice>)> = targets
            .into_iter()
            .map(|name| {
                let slice = self.node_view.included.get(&name).map(|node| {
                    let pods = self.bound.get(&name).map_or(&[][..], Vec::as_slice);
                    slice::node_slice(&name, node, pods, &context)
                });
                (name, slice)
            })
            .collect();
        // Only ENIs EC2 does not show associated can be unseen: those finished pods
        // name, and those whose clocks were unseen last time or belong to a node
        // recomputed now (an ENI that vanished dirties its node).
        let associated = |eni: &str| self.view.is_associated(eni);
        let candidates = self.unseen_candidates.get_or_insert_with(|| {
            let named = self
                .finished
                .values()
                .flat_map(|pod| pod.annotation.eni_ids());
            named.filter(|eni| !associated(eni)).cloned().collect()
        });
        let completed_claims = candidates
            .iter()
            .filter_map(|eni| Some((eni.as_str(), context.claims(eni)?)));
        let recomputed_clocks = recomputed
            .iter()
            .filter_map(|(name, _)| self.slices.get(name))
            .flat_map(|old| old.carry.release.keys());
        let previous = (self.unseen.iter().chain(recomputed_clocks))
            .filter_map(|eni| self.carry.release.get_key_value(eni));
        let mut unseen = Carry::default();
        rules::remember_unseen_releases(
            completed_claims,
            associated,
            previous,
            clock,
            settings,
            &mut unseen,
        );
        self.update_carry(recomputed, unseen, now, settings);
        self.date_finishes(clock);
        let nodes = &self.nodes;
        let bound_names = self.bound.keys();
        self.orphans.get_or_insert_with(|| {
            let orphaned = bound_names.filter(|name| name.is_empty() || !nodes.contains_key(*name));
            orphaned.cloned().collect()
        });
        self.assemble(clock)
    }

    /// What the last publish carried, as `reconcile` would have.
    pub fn carry(&self) -> &Carry {
        &self.carry
    }

    /// Replaces the recomputed nodes' slices and their part of the carry, and the
    /// carry's global parts. Old entries go before new ones come: an ENI can move between
    /// a node's part and the unseen ones.
    fn update_carry(
        &mut self,
        recomputed: Vec<(String, Option<NodeSlice>)>,
        unseen: Carry,
        now: Timestamp,
        settings: &Settings,
    ) {
        let carry = &mut self.carry;
        for (name, _) in &recomputed {
            if let Some(old) = self.slices.get(name) {
                old.carry
                    .release
                    .keys()
                    .for_each(|eni| _ = carry.release.remove(eni));
                (old.carry.absent_claims.keys())
                    .for_each(|claim| _ = carry.absent_claims.remove(claim));
            }
        }
        self.unseen
            .drain(..)
            .for_each(|eni| _ = carry.release.remove(&eni));
        for (name, slice) in recomputed {
            let Some(slice) = slice else {
                self.slices.remove(&name);
                self.ticking.remove(&name);
                continue;
            };
            carry.release.extend(slice.carry.release.clone());
            carry
                .absent_claims
                .extend(slice.carry.absent_claims.clone());
            match slice.next_due(now, settings) {
                Some(due) => _ = self.ticking.insert(name.clone(), (due, now)),
                None => _ = self.ticking.remove(&name),
            }
            self.slices.insert(name, slice);
        }
        self.unseen = unseen.release.keys().cloned().collect();
        carry.release.extend(unseen.release);
    }

    /// The first-seen finish times of finished pods whose status has none, in place: the
    /// pods first seen now start at `kube_fresh_until`, those gone or dated since go.
    fn date_finishes(&mut self, clock: Clock) {
        if !std::mem::take(&mut self.undated_changed) {
            return;
        }
        let seen = &mut self.carry.finished_first_seen;
        seen.retain(|key, _| self.undated.contains_key(key));
        for key in self.undated.keys() {
            if !seen.contains_key(key) {
                seen.insert(key.clone(), clock.kube_fresh_until);
            }
        }
    }

    /// Rebuilds the views whose sources changed, marking the nodes that moved.
    fn refresh_views(&mut self) {
        if std::mem::take(&mut self.nodes_changed) {
            let view = NodeView::build(&self.nodes);
            let old = std::mem::replace(&mut self.node_view, view);
            let included = &self.node_view.included;
            let moved = old
                .included
                .keys()
                .filter(|name| !included.contains_key(*name));
            let moved: Vec<String> = moved
                .chain(
                    included
                        .keys()
                        .filter(|name| !old.included.contains_key(*name)),
                )
                .cloned()
                .collect();
            self.dirty.extend(moved);
            // Placement follows the nodes' instances.
            self.inventory_changed
                .get_or_insert_with(|| self.view.inventory());
        }
        if let Some(inventory) = self.inventory_changed.take() {
            self.unseen_candidates = None;
            let view = InventoryView::build(inventory, &self.node_view);
            self.view
                .changed_nodes(&view, &self.claimers, &mut self.dirty);
            self.view = view;
        }
    }

    fn assemble(&self, clock: Clock) -> Snapshot {
        let mut snapshot = Snapshot {
            subnets: self.view.subnets.clone(),
            unattributed: self.view.unattributed.clone(),
            unschedulable_pods: self.unschedulable.values().cloned().collect(),
            observed: Observed {
                at: clock.now(),
                from: ObservedFrom::Live,
            },
            ..Snapshot::default()
        };
        let warnings = &mut snapshot.warnings;
        warnings.extend(self.node_view.warnings.iter().cloned());
        warnings.extend(self.view.warnings.iter().cloned());
        warnings.extend(self.pod_warnings.values().flatten().cloned());
        for slice in self.slices.values() {
            snapshot.nodes.extend(slice.report.clone());
            snapshot.holders.extend(slice.holders.iter().cloned());
            snapshot.waiting_pods.extend(slice.waiting.iter().cloned());
            snapshot.missing_pods.extend(slice.missing.iter().cloned());
            snapshot.warnings.extend(slice.warnings.iter().cloned());
        }
        for name in self.orphans.iter().flatten() {
            for pod in self.bound.get(name).into_iter().flatten() {
                let (waiting, warnings) = (&mut snapshot.waiting_pods, &mut snapshot.warnings);
                rules::absent_node(pod, name, waiting, warnings);
            }
        }
        rules::sort(&mut snapshot);
        snapshot
    }

    fn index_pod(&mut self, key: &str, pod: &Arc<PodInfo>) {
        self.mark_touched(pod);
        if !pod.phase.is_terminal()
            && let Some(node) = &pod.node_name
        {
            // A name is allocated only for a node's first pod, not at every event.
            match self.bound.get_mut(&**node) {
                Some(pods) => pods.push(pod.clone()),
                None => _ = self.bound.insert(node.to_string(), vec![pod.clone()]),
            }
        }
        self.claimers.add(pod);
        if pod.phase.is_terminal() && !pod.annotation.eni_ids().is_empty() {
            self.finished.insert(key.to_owned(), pod.clone());
            self.unseen_candidates = None;
        }
        if rules::finish_is_carried(pod) {
            self.undated.insert(key.to_owned(), pod.clone());
            self.undated_changed = true;
        }
        if let Some(unschedulable) = rules::unschedulable_pod(pod) {
            self.unschedulable.insert(key.to_owned(), unschedulable);
        }
        let mut warnings = Vec::new();
        rules::pod_warnings(pod, &mut warnings);
        if !warnings.is_empty() {
            self.pod_warnings.insert(key.to_owned(), warnings);
        }
    }

    fn unindex_pod(&mut self, key: &str, pod: &Arc<PodInfo>) {
        self.mark_touched(pod);
        let same = |other: &Arc<PodInfo>| Arc::ptr_eq(other, pod);
        if let Some(node) = &pod.node_name {
            remove_from(&mut self.bound, &**node, same);
        }
        self.claimers.remove(pod);
        if self.finished.remove(key).is_some() {
            self.unseen_candidates = None;
        }
        if self.undated.remove(key).is_some() {
            self.undated_changed = true;
        }
        self.unschedulable.remove(key);
        self.pod_warnings.remove(key);
    }

    /// Marks the nodes whose figures this pod can move: its own, and where its ENIs sit.
    fn mark_touched(&mut self, pod: &PodInfo) {
        if let Some(node) = &pod.node_name {
            if node.is_empty() || !self.nodes.contains_key(&**node) {
                self.orphans = None;
            }
            if !self.dirty.contains(&**node) {
                self.dirty.insert(node.to_string());
            }
        }
        for eni in pod.annotation.eni_ids() {
            if let Some(node) = self.view.node_of(eni) {
                self.dirty.insert(node.to_owned());
            }
        }
    }
}

/// Removes `pod` from the list under `key`, dropping the list when it empties.
fn remove_from<K, Q>(
    index: &mut HashMap<K, Vec<Arc<PodInfo>>>,
    key: &Q,
    same: impl Fn(&Arc<PodInfo>) -> bool,
) where
    K: std::borrow::Borrow<Q> + Eq + std::hash::Hash,
    Q: Eq + std::hash::Hash + ?Sized,
{
    if let Some(list) = index.get_mut(key) {
        list.retain(|other| !same(other));
        if list.is_empty() {
            index.remove(key);
        }
    }
}
