//! Bad input is data, not an error: each problem becomes an [`InputWarning`] that the
//! join reports and the exporter counts, while the object is still accounted as far as
//! it can be.

use std::fmt;

/// A bounded set of problem kinds: it becomes the `kind` label of
/// `podeni_input_warnings_total`, so it must never grow with input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WarningKind {
    /// The `vpc.amazonaws.com/pod-eni` annotation is not the JSON the controller writes.
    BadAnnotation,
    /// `spec.providerID` is neither an EC2 instance nor a known non-EC2 form.
    BadProviderId,
    /// No allocatable, and the instance type is not in the limits table.
    UnknownInstanceType,
    /// A resource quantity that is not a whole count.
    BadQuantity,
    /// An object in an input file that could not be decoded at all.
    BadObject,
    /// A subnet CIDR block that does not parse.
    BadCidr,
    /// The same object (by ENI ID, namespace/name, node name, subnet ID or instance)
    /// seen twice: only the first is counted.
    DuplicateObject,
}

impl WarningKind {
    pub const ALL: [WarningKind; 7] = [
        WarningKind::BadAnnotation,
        WarningKind::BadProviderId,
        WarningKind::UnknownInstanceType,
        WarningKind::BadQuantity,
        WarningKind::BadObject,
        WarningKind::BadCidr,
        WarningKind::DuplicateObject,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WarningKind::BadAnnotation => "bad_annotation",
            WarningKind::BadProviderId => "bad_provider_id",
            WarningKind::UnknownInstanceType => "unknown_instance_type",
            WarningKind::BadQuantity => "bad_quantity",
            WarningKind::BadObject => "bad_object",
            WarningKind::BadCidr => "bad_cidr",
            WarningKind::DuplicateObject => "duplicate_object",
        }
    }
}

/// One problem with one object, e.g. `bad_annotation: pod default/web-1: expected a JSON array`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InputWarning {
    pub kind: WarningKind,
    /// What the problem is about: `pod ns/name`, `node name`, `eni eni-…`, a file.
    pub object: String,
    pub detail: String,
}

impl InputWarning {
    pub fn new(kind: WarningKind, object: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            kind,
            object: object.into(),
            detail: detail.into(),
        }
    }
}

impl fmt::Display for InputWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}: {}",
            self.kind.as_str(),
            self.object,
            self.detail
        )
    }
}
