//! What the incremental join derives from the node set and from the EC2 inventory. Each
//! is rebuilt only when its source changes (a node added or changed, a poll), and the
//! new inventory view is diffed against the old one to find the nodes whose figures
//! moved, so a poll that changed ten ENIs recomputes the nodes of those ten.

use std::collections::BTreeMap;
use std::sync::Arc;

use compact_str::CompactString;
use foldhash::{HashMap, HashSet};

use super::super::rules;
use super::super::{Placement, SubnetReport, Unattributed};
use crate::model::{Association, Eni, EniRole, InputWarning, Inventory, NodeInfo, PodInfo};

/// The nodes that take part, as [`rules::select_nodes`] chooses them.
#[derive(Default)]
pub(super) struct NodeView {
    /// In name order: the order of the node reports.
    pub included: BTreeMap<String, Arc<NodeInfo>>,
    pub by_instance: HashMap<CompactString, String>,
    pub warnings: Vec<InputWarning>,
}

impl NodeView {
    /// `nodes` by name, so the first of an instance is the first by name.
    pub fn build(nodes: &BTreeMap<String, Arc<NodeInfo>>) -> Self {
        let mut warnings = Vec::new();
        let set = rules::select_nodes(nodes.values().map(|node| &**node), &mut warnings);
        let included = set
            .included
            .keys()
            .map(|&name| (name.to_owned(), nodes[name].clone()))
            .collect();
        let by_instance = set
            .by_instance
            .iter()
            .map(|(&instance, &name)| (CompactString::from(instance), name.to_owned()))
            .collect();
        Self {
            included,
            by_instance,
            warnings,
        }
    }
}

/// `u32::MAX`: a branch placed on no node.
const NOWHERE: u32 = u32::MAX;

/// One inventory, indexed for the join.
#[derive(Default)]
pub(super) struct InventoryView {
    inventory: Arc<Inventory>,
    /// ENI ID → index in `inventory.enis` of its first listing.
    by_id: HashMap<CompactString, u32>,
    /// The included nodes' names, in name order; the indexes below are into it.
    names: Vec<String>,
    node_index: HashMap<String, u32>,
    /// Per node: its associated branches (indexes into `inventory.enis`), and its trunk.
    placed: Vec<(Vec<u32>, Option<CompactString>)>,
    /// Per ENI (parallel to `inventory.enis`): the node it is placed on, or `NOWHERE`.
    placed_on: Vec<u32>,
    pub unattributed: Unattributed,
    pub subnets: Vec<SubnetReport>,
    /// Duplicate ENIs and subnets, and subnet figures that do not add up.
    pub warnings: Vec<InputWarning>,
}

impl InventoryView {
    pub fn build(inventory: Arc<Inventory>, nodes: &NodeView) -> Self {
        let mut warnings = Vec::new();
        let mut by_id = HashMap::default();
        let mut unique = Vec::new();
        for (index, eni) in inventory.enis.iter().enumerate() {
            if by_id.contains_key(&eni.id) {
                warnings.push(rules::duplicate(format!("eni {}", eni.id)));
            } else {
                by_id.insert(eni.id.clone(), index as u32);
                unique.push(eni);
            }
        }
        let names: Vec<String> = nodes.included.keys().cloned().collect();
        let node_index: HashMap<String, u32> = names
            .iter()
            .enumerate()
            .map(|(index, name)| (name.clone(), index as u32))
            .collect();
        let by_instance: HashMap<&str, &str> = nodes
            .by_instance
            .iter()
            .map(|(instance, name)| (instance.as_str(), name.as_str()))
            .collect();
        let (trunk_node, node_trunk) = rules::trunks(&unique, &by_instance);
        let mut placed: Vec<(Vec<u32>, Option<CompactString>)> =
            names.iter().map(|_| Default::default()).collect();
        for (node, trunk) in node_trunk {
            placed[node_index[node] as usize].1 = Some(CompactString::from(trunk));
        }
        let placement = Placement::new(trunk_node, by_instance);
        let mut placed_on = vec![NOWHERE; inventory.enis.len()];
        let mut unattributed = Unattributed::default();
        for &eni in unique.iter().filter(|e| e.role() == EniRole::Branch) {
            if eni.association() == Association::Detached {
                continue;
            }
            match placement.node_of(eni) {
                Ok(node) => {
                    let (index, node) = (by_id[&eni.id], node_index[node]);
                    placed[node as usize].0.push(index);
                    placed_on[index as usize] = node;
                }
                Err(reason) => unattributed.add(reason),
            }
        }
        let subnets = rules::subnet_reports(&inventory.subnets, &unique, &mut warnings);
        Self {
            by_id,
            names,
            node_index,
            placed,
            placed_on,
            unattributed,
            subnets,
            warnings,
            inventory,
        }
    }

    pub fn inventory(&self) -> Arc<Inventory> {
        self.inventory.clone()
    }

    /// Whether EC2 shows this ENI associated (any kind of ENI, as the join reads it).
    pub fn is_associated(&self, eni: &str) -> bool {
        self.eni(eni)
            .is_some_and(|eni| eni.association() == Association::Associated)
    }

    fn eni(&self, eni: &str) -> Option<&Eni> {
        let index = *self.by_id.get(eni)?;
        Some(&self.inventory.enis[index as usize])
    }

    /// The node an ENI is placed on, if it is an associated branch on an included node.
    pub fn node_of(&self, eni: &str) -> Option<&str> {
        let index = *self.by_id.get(eni)?;
        let node = self.placed_on[index as usize];
        (node != NOWHERE).then(|| self.names[node as usize].as_str())
    }

    /// A node's associated branches, in inventory order, and its trunk.
    pub fn placed(&self, node: &str) -> (impl Iterator<Item = &Eni>, Option<&str>) {
        let (enis, trunk) = match self.node_index.get(node) {
            Some(&index) => {
                let (enis, trunk) = &self.placed[index as usize];
                (enis.as_slice(), trunk.as_deref())
            }
            None => (&[][..], None),
        };
        let enis = enis
            .iter()
            .map(|&index| &self.inventory.enis[index as usize]);
        (enis, trunk)
    }

    /// The nodes whose figures differ between `self` (the old view) and `new`: those
    /// whose branches or trunk changed, and those with a live pod naming an ENI whose
    /// association changed (it may have gone missing, or come back).
    pub fn changed_nodes(
        &self,
        new: &InventoryView,
        claimers: &HashMap<CompactString, Vec<Arc<PodInfo>>>,
        dirty: &mut HashSet<String>,
    ) {
        for name in self.names.iter().chain(&new.names) {
            let (old_enis, old_trunk) = self.placed(name);
            let (new_enis, new_trunk) = new.placed(name);
            if old_trunk != new_trunk || !old_enis.eq(new_enis) {
                dirty.insert(name.clone());
            }
        }
        let ids = self.by_id.keys().chain(new.by_id.keys());
        for id in ids.filter(|id| self.is_associated(id) != new.is_associated(id)) {
            let bound = claimers.get(id).into_iter().flatten();
            for pod in bound.filter(|pod| !pod.phase.is_terminal()) {
                dirty.extend(pod.node_name.clone());
            }
        }
    }
}
