//! What the incremental join derives from the node set and from the EC2 inventory. Each
//! is rebuilt only when its source changes (a node added or changed, a poll), and the
//! new inventory view is diffed against the old one to find the nodes whose figures
//! moved, so a poll that changed ten ENIs recomputes the nodes of those ten.

use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::sync::Arc;

use compact_str::CompactString;
use foldhash::{HashMap, HashSet};
use hashbrown::HashTable;
use hashbrown::hash_table::Entry;

use super::super::rules;
use super::super::{Placement, SubnetReport, Unattributed};
use super::claimers::Claimers;
use crate::model::{Association, Eni, EniRole, InputWarning, Inventory, NodeInfo};

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
    by_id: EniIndex,
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
        let mut by_id = EniIndex::default();
        // The first listing of each ENI, and where it is in `inventory.enis`.
        let (mut unique, mut unique_at) = (Vec::new(), Vec::new());
        for (index, eni) in inventory.enis.iter().enumerate() {
            if by_id.insert_first(&inventory.enis, index as u32) {
                unique.push(eni);
                unique_at.push(index as u32);
            } else {
                warnings.push(rules::duplicate(format!("eni {}", eni.id)));
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
        let branches = unique.iter().zip(&unique_at);
        for (&eni, &index) in branches.filter(|(eni, _)| eni.role() == EniRole::Branch) {
            if eni.association() == Association::Detached {
                continue;
            }
            match placement.node_of(eni) {
                Ok(node) => {
                    let node = node_index[node];
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
        let index = self.by_id.get(&self.inventory.enis, eni)?;
        Some(&self.inventory.enis[index as usize])
    }

    /// The node an ENI is placed on, if it is an associated branch on an included node.
    pub fn node_of(&self, eni: &str) -> Option<&str> {
        let index = self.by_id.get(&self.inventory.enis, eni)?;
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
        claimers: &Claimers,
        dirty: &mut HashSet<String>,
    ) {
        for name in self.names.iter().chain(&new.names) {
            let (old_enis, old_trunk) = self.placed(name);
            let (new_enis, new_trunk) = new.placed(name);
            if old_trunk != new_trunk || !old_enis.eq(new_enis) {
                dirty.insert(name.clone());
            }
        }
        let ids = self.by_id.ids(&self.inventory.enis);
        let ids = ids.chain(new.by_id.ids(&new.inventory.enis));
        for id in ids.filter(|id| self.is_associated(id) != new.is_associated(id)) {
            for pod in claimers.of(id).filter(|pod| !pod.phase.is_terminal()) {
                dirty.extend(pod.node_name.as_deref().map(str::to_owned));
            }
        }
    }
}

/// ENI ID → index in an inventory's `enis` of its first listing. The table holds only
/// the index (4 bytes a slot) and hashes the ID it points at, where a map keyed by ID
/// held a copy of each (32 bytes a slot).
#[derive(Default)]
struct EniIndex {
    table: HashTable<u32>,
    hasher: foldhash::fast::RandomState,
}

impl EniIndex {
    /// Adds ENI `index` unless an ENI with its ID is there already (then `false`).
    fn insert_first(&mut self, enis: &[Eni], index: u32) -> bool {
        let id = enis[index as usize].id.as_str();
        let hash = self.hasher.hash_one(id);
        let hasher = &self.hasher;
        match self.table.entry(
            hash,
            |&other| enis[other as usize].id == id,
            |&other| hasher.hash_one(enis[other as usize].id.as_str()),
        ) {
            Entry::Occupied(_) => false,
            Entry::Vacant(slot) => {
                slot.insert(index);
                true
            }
        }
    }

    fn get(&self, enis: &[Eni], id: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(id);
        let found = self
            .table
            .find(hash, |&index| enis[index as usize].id == id);
        found.copied()
    }

    /// The IDs it holds.
    fn ids<'a>(&'a self, enis: &'a [Eni]) -> impl Iterator<Item = &'a str> {
        self.table
            .iter()
            .map(|&index| enis[index as usize].id.as_str())
    }
}
