//! Pods by the ENIs their annotations name: one entry per (pod, ENI it names), found
//! by the ENI ID's hash. An entry is a pointer and the ENI's place in the pod's
//! annotation (16 bytes), where a map from ENI ID strings to lists of pods held a
//! second copy of every ID and a list allocation each: at 90,000 branch ENIs, ~2 MiB
//! instead of ~9 MiB.

use std::hash::BuildHasher;
use std::sync::Arc;

use hashbrown::HashTable;

use crate::model::PodInfo;

#[derive(Default)]
pub(super) struct Claimers {
    table: HashTable<(Arc<PodInfo>, u32)>,
    hasher: foldhash::fast::RandomState,
}

/// The ENI an entry stands for.
fn eni_of((pod, index): &(Arc<PodInfo>, u32)) -> &str {
    &pod.annotation.eni_ids()[*index as usize]
}

impl Claimers {
    pub fn add(&mut self, pod: &Arc<PodInfo>) {
        for (index, eni) in pod.annotation.eni_ids().iter().enumerate() {
            let hash = self.hasher.hash_one(eni.as_str());
            let hasher = &self.hasher;
            let entry = (pod.clone(), index as u32);
            self.table
                .insert_unique(hash, entry, |entry| hasher.hash_one(eni_of(entry)));
        }
    }

    /// Removes the entries `add` made for this very pod (the same allocation).
    pub fn remove(&mut self, pod: &Arc<PodInfo>) {
        for (index, eni) in pod.annotation.eni_ids().iter().enumerate() {
            let hash = self.hasher.hash_one(eni.as_str());
            let this =
                |(other, at): &(Arc<PodInfo>, u32)| Arc::ptr_eq(other, pod) && *at == index as u32;
            if let Ok(entry) = self.table.find_entry(hash, this) {
                entry.remove();
            }
        }
    }

    /// The pods that name `eni`, in no particular order.
    pub fn of<'a, 'e>(
        &'a self,
        eni: &'e str,
    ) -> impl Iterator<Item = &'a Arc<PodInfo>> + use<'a, 'e> {
        let hash = self.hasher.hash_one(eni);
        self.table
            .iter_hash(hash)
            .filter(move |entry| eni_of(entry) == eni)
            .map(|(pod, _)| pod)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::EniAnnotation;

    fn pod(name: &str, enis: &[&str]) -> Arc<PodInfo> {
        Arc::new(PodInfo {
            name: name.into(),
            annotation: EniAnnotation::Present {
                eni_ids: enis.iter().map(|&eni| eni.into()).collect(),
                problem: None,
            },
            ..PodInfo::default()
        })
    }

    fn names(claimers: &Claimers, eni: &str) -> Vec<String> {
        let mut names: Vec<String> = claimers.of(eni).map(|pod| pod.name.clone()).collect();
        names.sort();
        names
    }

    #[test]
    fn each_eni_finds_the_pods_that_name_it_until_they_go() {
        let mut claimers = Claimers::default();
        let (a, b) = (pod("a", &["eni-1", "eni-2"]), pod("b", &["eni-2"]));
        // A copy equal to `b` is another pod version: removing it removes nothing.
        let b_copy = Arc::new(PodInfo::clone(&b));
        claimers.add(&a);
        claimers.add(&b);
        assert_eq!(names(&claimers, "eni-1"), ["a"]);
        assert_eq!(names(&claimers, "eni-2"), ["a", "b"]);
        assert!(names(&claimers, "eni-3").is_empty());
        claimers.remove(&b_copy);
        assert_eq!(names(&claimers, "eni-2"), ["a", "b"]);
        claimers.remove(&a);
        assert!(names(&claimers, "eni-1").is_empty());
        assert_eq!(names(&claimers, "eni-2"), ["b"]);
        claimers.remove(&b);
        assert!(claimers.table.is_empty());
    }

    #[test]
    fn a_pod_naming_an_eni_twice_is_counted_and_removed_twice() {
        let mut claimers = Claimers::default();
        let twice = pod("twice", &["eni-1", "eni-1"]);
        claimers.add(&twice);
        assert_eq!(names(&claimers, "eni-1"), ["twice", "twice"]);
        claimers.remove(&twice);
        assert!(claimers.table.is_empty());
    }
}
