//! Instance type → maximum branch ENIs, the fallback for a node that does not advertise
//! `vpc.amazonaws.com/pod-eni` yet. Embedded at compile time from `data/` (see its
//! README for where the table comes from).

use std::collections::HashMap;
use std::sync::OnceLock;

const TABLE_CSV: &str = include_str!("../../data/branch-eni-limits.csv");

/// Maximum branch ENIs for `instance_type`, `None` when the type cannot trunk.
pub fn max_branch_enis(instance_type: &str) -> Option<u32> {
    table().get(instance_type).copied()
}

/// The most branch ENIs any instance type holds: a pod asking for more is a typo.
/// Computed once: the join asks for every pod.
pub fn largest_limit() -> u32 {
    static LARGEST: OnceLock<u32> = OnceLock::new();
    *LARGEST.get_or_init(|| table().values().copied().max().unwrap_or(0))
}

fn table() -> &'static HashMap<&'static str, u32> {
    static TABLE: OnceLock<HashMap<&'static str, u32>> = OnceLock::new();
    TABLE.get_or_init(|| {
        TABLE_CSV
            .lines()
            .skip(1)
            .filter_map(|line| {
                let (instance_type, limit) = line.split_once(',')?;
                Some((instance_type.trim(), limit.trim().parse().ok()?))
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_of_the_embedded_table_is_read() {
        let rows = TABLE_CSV
            .lines()
            .skip(1)
            .filter(|l| !l.trim().is_empty())
            .count();
        assert_eq!(table().len(), rows, "a row failed to parse");
        assert!(rows > 1000);
    }

    #[test]
    fn known_limits() {
        assert_eq!(max_branch_enis("m5a.xlarge"), Some(18));
        assert_eq!(max_branch_enis("m5.large"), Some(9));
        assert_eq!(max_branch_enis("c5.4xlarge"), Some(54));
        assert_eq!(max_branch_enis("t3.medium"), None);
        assert_eq!(max_branch_enis(""), None);
        let largest = largest_limit();
        assert!(largest >= 54 && table().values().all(|&limit| limit <= largest));
    }
}
