//! Which node an associated branch ENI sits on (DESIGN §4): by the trunk its
//! `vpcresources.k8s.aws/trunk-eni-id` tag names, else by the instance its
//! `node.k8s.amazonaws.com/instance_id` tag names. The join places every branch with it;
//! `kubectl pod-eni node` lists one node's ENIs with the same rule, rebuilt from the
//! snapshot's nodes.

use foldhash::HashMap;

use super::report::{Snapshot, UnattributedReason};
use crate::model::Eni;

/// Trunk → node and instance → node.
#[derive(Debug, Default)]
pub struct Placement<'a> {
    trunk_node: HashMap<&'a str, &'a str>,
    instance_node: HashMap<&'a str, &'a str>,
}

impl<'a> Placement<'a> {
    pub fn new(
        trunk_node: HashMap<&'a str, &'a str>,
        instance_node: HashMap<&'a str, &'a str>,
    ) -> Self {
        Self {
            trunk_node,
            instance_node,
        }
    }

    /// The placement a join used, from the trunk and instance of each node it reports
    /// (a node with a trunk or a placed branch is always reported).
    pub fn of(snapshot: &'a Snapshot) -> Self {
        let mut placement = Self::default();
        for node in &snapshot.nodes {
            if let Some(trunk) = &node.trunk_eni_id {
                placement.trunk_node.insert(trunk, &node.name);
            }
            if let Some(instance) = &node.instance_id {
                placement.instance_node.insert(instance, &node.name);
            }
        }
        placement
    }

    /// The node of branch `eni`, or why it has none.
    pub fn node_of(&self, eni: &Eni) -> Result<&'a str, UnattributedReason> {
        let by_trunk = eni
            .trunk_eni_tag
            .as_deref()
            .and_then(|trunk| self.trunk_node.get(trunk));
        let by_instance = eni
            .instance_id_tag
            .as_deref()
            .and_then(|instance| self.instance_node.get(instance));
        match by_trunk.or(by_instance) {
            Some(&node) => Ok(node),
            None if eni.trunk_eni_tag.is_some() || eni.instance_id_tag.is_some() => {
                Err(UnattributedReason::UnknownTrunk)
            }
            None => Err(UnattributedReason::NoTrunkTag),
        }
    }
}
