//! The `vpc.amazonaws.com/pod-eni` annotation parser: any text is a value or a problem,
//! never a panic, and what it returns is consistent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pod_eni_exporter::model::parse_eni_annotation;

fuzz_target!(|text: &str| {
    let annotation = parse_eni_annotation(text);
    if annotation.problem().is_none() {
        assert!(annotation.eni_ids().iter().all(|id| !id.is_empty()));
    }
    let _ = annotation.has_no_eni();
});
