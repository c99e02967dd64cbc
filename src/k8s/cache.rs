//! The compact Kubernetes cache: `PodInfo`/`NodeInfo` keyed by object, fed by watch
//! events through plain synchronous methods ([`Index::apply_event`]; the async driver
//! that forwards them is in `watch`), so every rule here is tested without a server.
//!
//! A re-list updates the cache in place: every listed object replaces its entry, and
//! when the list completes, the entries it did not see (deleted while unwatched) go. A
//! reconcile during a re-list therefore sees every object, some at their previous
//! version, never a half-listed cluster (which would make every unlisted pod's ENI look
//! orphaned), and a re-list of 100,000 pods never holds two caches at once.
//!
//! Values are shared (`Arc`): the join takes the [changes](Index::take_changes) since it
//! last looked under the lock (the keys changed, each with its value now; everything
//! after a list) and applies them without it, so watch events never wait for a join.
//! An update that changes nothing the join reads (a node's heartbeat, a pod's status
//! that reduces to the same `PodInfo`) is no change.

use std::sync::Arc;

use foldhash::HashSet;
use kube::runtime::watcher::Event;

use super::watched::{Kind, Watched};
use crate::model::{Keyed, KeyedTable, NodeInfo, PodInfo, key_parts, key_string};

/// What one watch event did to an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// A (re-)list began: the view is being replaced.
    ListStarted,
    /// A list delivered an object; the list is not complete yet.
    Listing,
    /// A list completed, having delivered `listed` objects (kept or not).
    Listed { listed: usize },
    /// An object changed or went.
    Changed,
}

#[derive(Debug)]
struct Entry<V> {
    value: Arc<V>,
    /// The list that last saw it (or the one current when a watch event set it).
    list: u64,
}

impl<V: Keyed> Keyed for Entry<V> {
    fn key_parts(&self) -> (&str, &str) {
        self.value.key_parts()
    }
}

/// What changed in an index since the join last took its changes.
#[derive(Debug, PartialEq)]
pub enum Changes<V> {
    /// A list began since (or nothing was taken yet): every value, as it is now.
    All(Vec<Arc<V>>),
    /// Each key ([`key_string`](crate::model::key_string)) changed since, with its value now (`None`: gone).
    Keys(Vec<(String, Option<Arc<V>>)>),
}

#[derive(Debug)]
pub struct Index<V> {
    /// Every object, found by its own key.
    live: KeyedTable<Entry<V>>,
    /// Keys changed since the last `take_changes`; `None` when everything is to be
    /// taken (before the first take, and once a list begins).
    changed: Option<HashSet<String>>,
    /// Lists started so far; the one in progress, if any, is `listing`.
    lists: u64,
    listing: bool,
    synced: bool,
    /// Objects the current list delivered.
    listed: usize,
}

impl<V> Default for Index<V> {
    fn default() -> Self {
        Self {
            live: KeyedTable::default(),
            changed: None,
            lists: 0,
            listing: false,
            synced: false,
            listed: 0,
        }
    }
}

impl<V: Keyed> Index<V> {
    /// A (re-)list starts.
    pub fn init(&mut self) {
        self.lists += 1;
        self.listing = true;
        self.changed = None;
    }

    /// An object of the list, by its key parts; `None` when the object is not worth
    /// caching.
    pub fn init_apply(&mut self, key: (&str, &str), value: Option<V>)
    where
        V: PartialEq,
    {
        self.apply(key, value);
    }

    /// The list is complete: what it did not see is gone.
    pub fn init_done(&mut self) {
        if std::mem::take(&mut self.listing) {
            let current = self.lists;
            let changed = &mut self.changed;
            self.live.retain(|entry| {
                let kept = entry.list == current;
                if !kept {
                    mark(changed, entry.value.key_parts());
                }
                kept
            });
        }
        self.synced = true;
    }

    /// A watch event for a live object (found by its own key parts); `None` drops the
    /// one at `key` (no longer relevant).
    pub fn apply(&mut self, key: (&str, &str), value: Option<V>)
    where
        V: PartialEq,
    {
        let Some(value) = value else {
            self.delete(key);
            return;
        };
        let list = self.lists;
        if let Some(entry) = self.live.get_mut(value.key_parts()) {
            entry.list = list;
            if *entry.value != value {
                mark(&mut self.changed, value.key_parts());
                entry.value = Arc::new(value);
            }
            return;
        }
        mark(&mut self.changed, value.key_parts());
        let value = Arc::new(value);
        self.live.insert(Entry { value, list });
    }

    pub fn delete(&mut self, key: (&str, &str)) {
        if self.live.remove(key).is_some() {
            mark(&mut self.changed, key);
        }
    }

    /// What changed since the last call, with the values as they are now.
    pub fn take_changes(&mut self) -> Changes<V> {
        match self.changed.replace(HashSet::default()) {
            None => Changes::All(self.shared()),
            Some(keys) => Changes::Keys(
                keys.into_iter()
                    .map(|key| {
                        let value = self.live.get(key_parts(&key));
                        let value = value.map(|entry| entry.value.clone());
                        (key, value)
                    })
                    .collect(),
            ),
        }
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
        self.live.iter().map(|entry| &*entry.value)
    }

    /// Every value, shared: what a join reads after the lock is released.
    pub fn shared(&self) -> Vec<Arc<V>> {
        self.live.iter().map(|entry| entry.value.clone()).collect()
    }
}

impl<V: Kind> Index<V> {
    /// Applies one watch event. An object that does not decode keeps its last good
    /// version, if any, and its key and error go to `undecodable` to be reported.
    pub fn apply_event(
        &mut self,
        event: Event<Watched<V>>,
        undecodable: &mut impl FnMut(String, String),
    ) -> Applied {
        let mut decoded =
            |mut object: Watched<V>| match std::mem::replace(&mut object.decoded, Ok(None)) {
                Ok(value) => Some((object, value)),
                Err(error) => {
                    undecodable(object.key(), error);
                    None
                }
            };
        match event {
            Event::Init => {
                self.init();
                self.listed = 0;
                Applied::ListStarted
            }
            Event::InitApply(object) => {
                self.listed += 1;
                if let Some((object, value)) = decoded(object) {
                    self.init_apply(object.key_parts(), value);
                }
                Applied::Listing
            }
            Event::InitDone => {
                self.init_done();
                Applied::Listed {
                    listed: self.listed,
                }
            }
            Event::Apply(object) => {
                if let Some((object, value)) = decoded(object) {
                    self.apply(object.key_parts(), value);
                }
                Applied::Changed
            }
            Event::Delete(object) => {
                // A deleted object goes whatever its last state decodes to.
                self.delete(object.key_parts());
                Applied::Changed
            }
        }
    }
}

/// Notes `key` as changed, unless everything is to be taken anyway.
fn mark(changed: &mut Option<HashSet<String>>, key: (&str, &str)) {
    if let Some(changed) = changed {
        changed.insert(key_string(key));
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

    /// A cached object: its name and a value.
    #[derive(Debug, PartialEq)]
    struct Object(&'static str, u32);

    impl Keyed for Object {
        fn key_parts(&self) -> (&str, &str) {
            ("", self.0)
        }
    }

    fn object(name: &'static str, value: Option<u32>) -> Option<Object> {
        value.map(|value| Object(name, value))
    }

    /// Sets `name` to `value` (`None`: drops it), as a watch event does.
    fn apply(index: &mut Index<Object>, name: &'static str, value: Option<u32>) {
        index.apply(("", name), object(name, value));
    }

    fn list(index: &mut Index<Object>, name: &'static str, value: Option<u32>) {
        index.init_apply(("", name), object(name, value));
    }

    fn keys(index: &Index<Object>) -> Vec<u32> {
        let mut values: Vec<u32> = index.values().map(|object| object.1).collect();
        values.sort();
        values
    }

    #[test]
    fn a_relist_never_shows_a_half_listed_cluster() {
        let mut index = Index::default();
        index.init();
        list(&mut index, "a", Some(1));
        list(&mut index, "b", Some(2));
        list(&mut index, "skipped", None);
        assert!(
            !index.is_synced(),
            "nothing is joined before the first list completes"
        );
        index.init_done();
        assert!(index.is_synced());
        assert_eq!(keys(&index), vec![1, 2]);

        // A re-list after a watch error: what it has not reached yet keeps its last
        // version, so no object is missing half-way; what it never sees goes at the end.
        index.init();
        list(&mut index, "b", Some(20));
        assert_eq!(
            keys(&index),
            vec![1, 20],
            "a is still there until the list ends"
        );
        list(&mut index, "c", Some(3));
        index.init_done();
        assert_eq!(
            keys(&index),
            vec![3, 20],
            "a is gone: deleted while unwatched"
        );

        // A list that drops an object as no longer relevant drops it at once.
        index.init();
        list(&mut index, "c", None);
        list(&mut index, "b", Some(20));
        assert_eq!(keys(&index), vec![20]);
        index.init_done();
        assert_eq!(keys(&index), vec![20]);
    }

    #[test]
    fn watch_events() {
        let mut index = Index::default();
        index.init();
        index.init_done();
        apply(&mut index, "a", Some(1));
        apply(&mut index, "a", Some(2));
        apply(&mut index, "b", Some(3));
        apply(&mut index, "b", None);
        index.delete(("", "missing"));
        assert_eq!(keys(&index), vec![2]);
        index.delete(("", "a"));
        assert!(index.is_empty());
    }

    /// The keys of `Changes::Keys`, with the values they carry.
    fn changed(index: &mut Index<Object>) -> Vec<(String, Option<u32>)> {
        match index.take_changes() {
            Changes::All(_) => panic!("expected changed keys, got everything"),
            Changes::Keys(keys) => {
                let mut keys: Vec<_> = keys.into_iter().map(|(k, v)| (k, v.map(|v| v.1))).collect();
                keys.sort();
                keys
            }
        }
    }

    #[test]
    fn the_join_takes_what_changed_since_it_last_looked() {
        let mut index = Index::default();
        index.init();
        list(&mut index, "a", Some(1));
        index.init_done();
        let Changes::All(all) = index.take_changes() else {
            panic!("the first take is everything");
        };
        assert_eq!(all.iter().map(|v| v.1).collect::<Vec<_>>(), vec![1]);
        assert_eq!(changed(&mut index), vec![], "nothing since");

        apply(&mut index, "a", Some(1));
        assert_eq!(
            changed(&mut index),
            vec![],
            "an update to the same value is no change"
        );
        apply(&mut index, "a", Some(2));
        apply(&mut index, "b", Some(3));
        apply(&mut index, "b", Some(4));
        assert_eq!(
            changed(&mut index),
            vec![("a".into(), Some(2)), ("b".into(), Some(4))],
            "each key once, with its value now"
        );
        index.delete(("", "a"));
        apply(&mut index, "b", None);
        index.delete(("", "never-there"));
        assert_eq!(
            changed(&mut index),
            vec![("a".into(), None), ("b".into(), None)]
        );

        // A re-list: everything is taken again, and what the list did not see goes.
        apply(&mut index, "c", Some(5));
        index.init();
        assert!(matches!(index.take_changes(), Changes::All(_)));
        list(&mut index, "d", Some(6));
        index.init_done();
        assert_eq!(
            changed(&mut index),
            vec![("c".into(), None), ("d".into(), Some(6))],
            "taken during the list: the rest of it still arrives as keys"
        );
    }

    fn pod(name: &str, eni: Option<&str>) -> Watched<PodInfo> {
        let annotation = eni.map_or(String::new(), |eni| {
            format!(r#","annotations":{{"vpc.amazonaws.com/pod-eni":"[{{\"eniId\":\"{eni}\"}}]"}}"#)
        });
        Watched::decode(&format!(
            r#"{{"metadata":{{"name":"{name}","namespace":"n","resourceVersion":"1"{annotation}}},"spec":{{"containers":[{{"resources":{{"limits":{{"vpc.amazonaws.com/pod-eni":"1"}}}}}}]}}}}"#
        ))
    }

    #[test]
    fn watch_events_apply_without_a_server() {
        let mut index: Index<PodInfo> = Index::default();
        let mut undecodable = Vec::new();
        let mut apply = |index: &mut Index<PodInfo>, event| {
            index.apply_event(event, &mut |key, error| undecodable.push((key, error)))
        };
        assert_eq!(apply(&mut index, Event::Init), Applied::ListStarted);
        assert_eq!(
            apply(&mut index, Event::InitApply(pod("a", Some("eni-1")))),
            Applied::Listing
        );
        let broken = Watched::decode(
            r#"{"metadata":{"name":"b","namespace":"n"},"spec":{"containers":"oops"}}"#,
        );
        assert_eq!(
            apply(&mut index, Event::InitApply(broken)),
            Applied::Listing
        );
        assert!(!index.is_synced(), "not joined before the list completes");
        assert_eq!(
            apply(&mut index, Event::InitDone),
            Applied::Listed { listed: 2 },
            "both delivered, one kept"
        );
        assert_eq!(index.len(), 1);
        assert_eq!(
            apply(&mut index, Event::Apply(pod("c", None))),
            Applied::Changed
        );
        assert_eq!(index.len(), 2);
        assert_eq!(
            apply(&mut index, Event::Delete(pod("a", None))),
            Applied::Changed
        );
        let names: Vec<String> = index.values().map(|p| p.name.clone()).collect();
        assert_eq!(names, ["c"]);
        assert_eq!(undecodable.len(), 1);
        assert_eq!(undecodable[0].0, "n/b", "named by its identity");
    }
}
