//! The snapshot readers (kubectl and AWS CLI JSON) and the join behind them: the first
//! byte picks the file, the rest is its content. Any bytes give objects, warnings or a
//! clear error, never a panic; and whatever is read joins.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pod_eni_exporter::accounting::{Observed, ObservedFrom, Settings};
use pod_eni_exporter::snapshot_dir::{self, DATA_FILES, Loaded};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let mut loaded = Loaded {
        nodes: Vec::new(),
        pods: Vec::new(),
        inventory: Default::default(),
        warnings: Vec::new(),
        observed: Observed {
            at: jiff::Timestamp::UNIX_EPOCH,
            from: ObservedFrom::Metadata,
        },
    };
    let name = DATA_FILES[usize::from(pick) % DATA_FILES.len()];
    if let Err(error) = snapshot_dir::decode_file(&mut loaded, name, bytes) {
        assert!(
            error.to_string().contains(name),
            "errors name the file: {error}"
        );
        return;
    }
    let snapshot = loaded.join(&Settings::default());
    for node in &snapshot.nodes {
        let states = node.branch_enis;
        assert!(
            states.in_use as u64
                + states.completed_pod as u64
                + states.orphaned as u64
                + states.leaked as u64
                == node.attached() as u64
        );
    }
});
