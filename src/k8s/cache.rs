//! The compact Kubernetes cache: `PodInfo`/`NodeInfo` keyed by object, fed by watch
//! events through plain synchronous methods (the async driver is in `watch`).
//!
//! A re-list is buffered and swapped in whole at `InitDone`, so a reconcile never sees
//! a half-listed cluster, which would make every unlisted pod's ENI look orphaned.
//!
//! Values are shared (`Arc`): the join takes a [`shared`](Index::shared) copy of the
//! pointers under the lock (a millisecond for 100,000 pods) and runs without it, so
//! watch events never wait for a join.

use foldhash::HashMap;
use std::sync::Arc;

use crate::model::{NodeInfo, PodInfo};

#[derive(Debug)]
pub struct Index<V> {
    live: HashMap<String, Arc<V>>,
    relist: Option<HashMap<String, Arc<V>>>,
    synced: bool,
}

impl<V> Default for Index<V> {
    fn default() -> Self {
        Self {
            live: HashMap::default(),
            relist: None,
            synced: false,
        }
    }
}

impl<V> Index<V> {
    /// A (re-)list starts.
    pub fn init(&mut self) {
        self.relist = Some(HashMap::default());
    }

    /// An object of the list; `None` when the object is not worth caching.
    pub fn init_apply(&mut self, key: String, value: Option<V>) {
        let buffer = self.relist.get_or_insert_with(HashMap::default);
        if let Some(value) = value {
            buffer.insert(key, Arc::new(value));
        }
    }

    /// The list is complete: it replaces what was cached.
    pub fn init_done(&mut self) {
        if let Some(listed) = self.relist.take() {
            self.live = listed;
        }
        self.synced = true;
    }

    /// A watch event for a live object; `None` drops it (no longer relevant).
    pub fn apply(&mut self, key: String, value: Option<V>) {
        match value {
            Some(value) => {
                self.live.insert(key, Arc::new(value));
            }
            None => {
                self.live.remove(&key);
            }
        }
    }

    pub fn delete(&mut self, key: &str) {
        self.live.remove(key);
    }

    pub fn is_synced(&self) -> bool {
        self.synced
    }

    pub fn len(&self) -> usize {
        self.live.len()
    }

    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.live.values().map(|value| &**value)
    }

    /// Every value, shared: what a join reads after the lock is released.
    pub fn shared(&self) -> Vec<Arc<V>> {
        self.live.values().cloned().collect()
    }
}

#[derive(Debug, Default)]
pub struct ClusterCache {
    pub pods: Index<PodInfo>,
    pub nodes: Index<NodeInfo>,
}

impl ClusterCache {
    pub fn is_synced(&self) -> bool {
        self.pods.is_synced() && self.nodes.is_synced()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(index: &Index<u32>) -> Vec<u32> {
        let mut values: Vec<u32> = index.values().copied().collect();
        values.sort();
        values
    }

    #[test]
    fn a_relist_is_invisible_until_done() {
        let mut index = Index::default();
        index.init();
        index.init_apply("a".into(), Some(1));
        index.init_apply("b".into(), Some(2));
        index.init_apply("skipped".into(), None);
        assert!(!index.is_synced());
        assert!(index.is_empty());
        index.init_done();
        assert!(index.is_synced());
        assert_eq!(keys(&index), vec![1, 2]);

        // A re-list after a watch error: the old view stays until the new one is whole.
        index.init();
        index.init_apply("b".into(), Some(20));
        assert_eq!(keys(&index), vec![1, 2]);
        index.init_done();
        assert_eq!(keys(&index), vec![20], "a is gone: deleted while unwatched");
    }

    #[test]
    fn watch_events() {
        let mut index = Index::default();
        index.init();
        index.init_done();
        index.apply("a".into(), Some(1));
        index.apply("a".into(), Some(2));
        index.apply("b".into(), Some(3));
        index.apply("b".into(), None);
        index.delete("missing");
        assert_eq!(keys(&index), vec![2]);
        index.delete("a");
        assert!(index.is_empty());
    }
}
