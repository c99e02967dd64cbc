//! Objects found by their own namespace and name: the cache and the join each keep
//! every pod this way, a pointer-sized slot per object, where a map keyed by
//! `namespace/name` strings would hold a second copy of every name.

use std::hash::BuildHasher;
use std::sync::Arc;

use hashbrown::HashTable;
use hashbrown::hash_table::Entry;

use super::{NodeInfo, PodInfo};

/// What identifies an object: its namespace (empty for a cluster-scoped one) and name.
pub trait Keyed {
    fn key_parts(&self) -> (&str, &str);
}

impl Keyed for PodInfo {
    fn key_parts(&self) -> (&str, &str) {
        (&self.namespace, &self.name)
    }
}

impl Keyed for NodeInfo {
    fn key_parts(&self) -> (&str, &str) {
        ("", &self.name)
    }
}

impl<T: Keyed> Keyed for Arc<T> {
    fn key_parts(&self) -> (&str, &str) {
        T::key_parts(self)
    }
}

/// `namespace/name`, or the name of a cluster-scoped object: how a key is spelled where
/// it must be one string.
pub fn key_string((namespace, name): (&str, &str)) -> String {
    if namespace.is_empty() {
        name.to_owned()
    } else {
        format!("{namespace}/{name}")
    }
}

/// The parts of a [`key_string`].
pub fn key_parts(key: &str) -> (&str, &str) {
    key.split_once('/').unwrap_or(("", key))
}

/// A set of objects, at most one per key, found by their own key.
pub struct KeyedTable<T> {
    table: HashTable<T>,
    hasher: foldhash::fast::RandomState,
}

impl<T> Default for KeyedTable<T> {
    fn default() -> Self {
        Self {
            table: HashTable::default(),
            hasher: foldhash::fast::RandomState::default(),
        }
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for KeyedTable<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.table.iter()).finish()
    }
}

impl<T: Keyed> KeyedTable<T> {
    pub fn get(&self, key: (&str, &str)) -> Option<&T> {
        let hash = self.hasher.hash_one(key);
        self.table.find(hash, |value| value.key_parts() == key)
    }

    pub fn get_mut(&mut self, key: (&str, &str)) -> Option<&mut T> {
        let hash = self.hasher.hash_one(key);
        self.table.find_mut(hash, |value| value.key_parts() == key)
    }

    /// Puts `value` in the place of the one with its key, if any, and returns that one.
    pub fn insert(&mut self, value: T) -> Option<T> {
        let hasher = &self.hasher;
        let key = value.key_parts();
        let hash = hasher.hash_one(key);
        let same = |other: &T| other.key_parts() == key;
        let rehash = |other: &T| hasher.hash_one(other.key_parts());
        match self.table.entry(hash, same, rehash) {
            Entry::Occupied(mut slot) => Some(std::mem::replace(slot.get_mut(), value)),
            Entry::Vacant(slot) => {
                slot.insert(value);
                None
            }
        }
    }

    pub fn remove(&mut self, key: (&str, &str)) -> Option<T> {
        let hash = self.hasher.hash_one(key);
        let found = self
            .table
            .find_entry(hash, |value| value.key_parts() == key);
        found.ok().map(|entry| entry.remove().0)
    }

    pub fn retain(&mut self, keep: impl FnMut(&mut T) -> bool) {
        self.table.retain(keep);
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.table.iter()
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(namespace: &str, name: &str, node: &str) -> PodInfo {
        PodInfo {
            namespace: namespace.into(),
            name: name.into(),
            node_name: Some(node.into()),
            ..PodInfo::default()
        }
    }

    #[test]
    fn one_object_per_key_found_by_its_own_key() {
        let mut pods = KeyedTable::default();
        assert!(pods.insert(pod("shop", "web", "a")).is_none());
        assert!(pods.insert(pod("batch", "web", "b")).is_none());
        let old = pods.insert(pod("shop", "web", "c")).expect("replaced");
        assert_eq!(old.node_name.as_deref(), Some("a"));
        assert_eq!(pods.len(), 2);
        let found = pods.get(("shop", "web")).expect("found");
        assert_eq!(found.node_name.as_deref(), Some("c"));
        assert!(pods.get(("shop", "api")).is_none());
        assert!(pods.remove(("shop", "web")).is_some());
        assert!(pods.remove(("shop", "web")).is_none());
        assert_eq!(
            pods.iter()
                .map(|p| p.namespace.as_str())
                .collect::<Vec<_>>(),
            ["batch"]
        );
    }

    #[test]
    fn a_key_string_reads_back_into_its_parts() {
        for parts in [
            ("shop", "web-1"),
            ("", "ip-10-0-1-10.eu-west-1.compute.internal"),
        ] {
            assert_eq!(key_parts(&key_string(parts)), parts);
        }
    }
}
