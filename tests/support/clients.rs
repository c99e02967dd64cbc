//! The pinned `kubectl` and `helm` the tests run (scripts/k8s-clients unpacks both from
//! one npm package and scripts/test exports their paths). Never the machine's own: a
//! Debian kubectl 1.20 cannot read the project's kustomizations, and the tests must say
//! the same thing on every machine.

use std::path::PathBuf;

/// `kubectl` v1.36 (`PODENI_TEST_KUBECTL`, else `.tools/bin/kubectl`).
pub fn kubectl() -> PathBuf {
    pinned("kubectl", "PODENI_TEST_KUBECTL")
}

/// `helm` v4 (`PODENI_TEST_HELM`, else `.tools/bin/helm`).
pub fn helm() -> PathBuf {
    pinned("helm", "PODENI_TEST_HELM")
}

fn pinned(name: &str, variable: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(variable) {
        return path.into();
    }
    let local = super::repo().join(".tools/bin").join(name);
    assert!(
        local.is_file(),
        "{name} not found: set {variable} or run `scripts/k8s-clients path {name}` (scripts/test does)"
    );
    local
}
