//! Nodes, reduced to what the join reads: name, EC2 instance, type, zone, node group,
//! whether cordoned, allocatable.

/// Where a node runs, from `spec.providerID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compute {
    /// `aws:///<az>/<instance-id>`: an EC2 instance that can hold a trunk ENI.
    Ec2 { instance_id: String },
    /// EKS Fargate: no trunk ENIs, never part of the join.
    Fargate,
    /// No providerID yet (the kubelet sets it shortly after registering).
    Pending,
    /// Anything else, kept verbatim for the warning.
    Unparseable(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    pub name: String,
    pub compute: Compute,
    /// `node.kubernetes.io/instance-type`, else the legacy `beta.` label.
    pub instance_type: Option<String>,
    /// `topology.kubernetes.io/zone`, else the zone from the providerID.
    pub zone: Option<String>,
    /// `status.allocatable["vpc.amazonaws.com/pod-eni"]`: `Ok(None)` when absent,
    /// `Err(raw)` when present but not a whole count.
    pub allocatable_pod_eni: Result<Option<u32>, String>,
    /// `kubernetes.io/os` (else the `beta.` label, else `status.nodeInfo.operatingSystem`);
    /// `None` when unknown. Only Linux nodes get trunk ENIs.
    pub os: Option<String>,
    /// `eks.amazonaws.com/nodegroup`, else `karpenter.sh/nodepool`.
    pub nodegroup: Option<String>,
    /// `spec.unschedulable`: cordoned.
    pub unschedulable: bool,
}

impl NodeInfo {
    /// The controller gives trunks to Linux nodes only; a node of unknown OS is
    /// assumed to be Linux, like every EKS node image that supports pod ENIs.
    pub fn can_hold_trunk(&self) -> bool {
        self.compute != Compute::Fargate && self.os.as_deref().is_none_or(|os| os == "linux")
    }

    pub fn instance_id(&self) -> Option<&str> {
        match &self.compute {
            Compute::Ec2 { instance_id } => Some(instance_id),
            _ => None,
        }
    }
}

/// Parses `spec.providerID`. `fargate_label` is true when the node carries
/// `eks.amazonaws.com/compute-type=fargate`. Returns the zone found in the id, if any.
pub fn parse_provider_id(raw: Option<&str>, fargate_label: bool) -> (Compute, Option<String>) {
    if fargate_label {
        return (Compute::Fargate, None);
    }
    let Some(raw) = raw.map(str::trim).filter(|raw| !raw.is_empty()) else {
        return (Compute::Pending, None);
    };
    let Some(path) = raw.strip_prefix("aws://") else {
        return (Compute::Unparseable(raw.to_owned()), None);
    };
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if segments.iter().any(|s| s.starts_with("fargate-")) {
        return (Compute::Fargate, None);
    }
    match segments.as_slice() {
        [zone, instance_id] if is_instance_id(instance_id) => (
            Compute::Ec2 {
                instance_id: (*instance_id).to_owned(),
            },
            Some((*zone).to_owned()),
        ),
        // Some tools write the id without a zone: aws:///i-0abc.
        [instance_id] if is_instance_id(instance_id) => (
            Compute::Ec2 {
                instance_id: (*instance_id).to_owned(),
            },
            None,
        ),
        _ => (Compute::Unparseable(raw.to_owned()), None),
    }
}

fn is_instance_id(candidate: &str) -> bool {
    candidate
        .strip_prefix("i-")
        .is_some_and(|hex| !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ec2(id: &str) -> Compute {
        Compute::Ec2 {
            instance_id: id.to_owned(),
        }
    }

    #[test]
    fn provider_ids() {
        // (case, providerID, fargate label, expected compute, expected zone)
        type Case<'a> = (&'a str, Option<&'a str>, bool, Compute, Option<&'a str>);
        let cases: [Case; 9] = [
            (
                "ec2",
                Some("aws:///eu-west-1a/i-0123456789abcdef0"),
                false,
                ec2("i-0123456789abcdef0"),
                Some("eu-west-1a"),
            ),
            (
                "ec2 without zone",
                Some("aws:///i-0abc"),
                false,
                ec2("i-0abc"),
                None,
            ),
            (
                "fargate by id",
                Some(
                    "aws:///us-east-1b/4b7c5d1e2f-0a1b2c3d4e5f4a5b/fargate-ip-192-168-7-9.ec2.internal",
                ),
                false,
                Compute::Fargate,
                None,
            ),
            (
                "fargate by label",
                Some("aws:///us-east-1b/whatever"),
                true,
                Compute::Fargate,
                None,
            ),
            ("not set yet", None, false, Compute::Pending, None),
            ("blank", Some("  "), false, Compute::Pending, None),
            (
                "kind",
                Some("kind://docker/kind/kind-worker"),
                false,
                Compute::Unparseable("kind://docker/kind/kind-worker".into()),
                None,
            ),
            (
                "not an instance id",
                Some("aws:///eu-west-1a/node-7"),
                false,
                Compute::Unparseable("aws:///eu-west-1a/node-7".into()),
                None,
            ),
            (
                "too many segments",
                Some("aws:///a/b/i-0abc"),
                false,
                Compute::Unparseable("aws:///a/b/i-0abc".into()),
                None,
            ),
        ];
        for (name, raw, fargate, want, want_zone) in cases {
            let (got, zone) = parse_provider_id(raw, fargate);
            assert_eq!(got, want, "{name}");
            assert_eq!(zone.as_deref(), want_zone, "{name}");
        }
    }
}
