//! ENIs and subnets as EC2 reports them, and the rules that tell trunk from branch.

use compact_str::CompactString;
use ustr::Ustr;

/// Tag on a branch ENI naming its trunk.
pub const TAG_TRUNK_ENI_ID: &str = "vpcresources.k8s.aws/trunk-eni-id";
/// Tag on a branch ENI naming the instance (newer controllers), the fallback link.
pub const TAG_INSTANCE_ID: &str = "node.k8s.amazonaws.com/instance_id";
/// Descriptions the controller gives the ENIs it creates.
pub const TRUNK_DESCRIPTION: &str = "aws-k8s-trunk-eni";
pub const BRANCH_DESCRIPTION: &str = "aws-k8s-branch-eni";

/// One network interface, with only the fields and tags the join reads.
///
/// Values shared by many ENIs (type, description, status, subnet, VPC, zone) are
/// interned (`Ustr`, 8 bytes): the poll's filter returns only the controller's ENIs in
/// this cluster, so there are a few hundred distinct ones however long the exporter
/// runs. IDs are not (they change with every node and pod, and the interner never
/// frees); every EC2 ID fits in 24 bytes, so `CompactString` keeps them inline. An ENI
/// is one allocation-free 144-byte struct (240 with every field a `CompactString`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Eni {
    pub id: CompactString,
    /// `InterfaceType` (`trunk`, `branch`, `interface`, …).
    pub interface_type: Option<Ustr>,
    pub description: Option<Ustr>,
    /// `Status` (`in-use`, `available`, `associated`, …).
    pub status: Option<Ustr>,
    pub subnet_id: Option<Ustr>,
    pub vpc_id: Option<Ustr>,
    pub availability_zone: Option<Ustr>,
    /// `Attachment.InstanceId`: set for trunks, never for branches.
    pub attached_instance_id: Option<CompactString>,
    pub trunk_eni_tag: Option<CompactString>,
    pub instance_id_tag: Option<CompactString>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EniRole {
    Trunk,
    Branch,
    Other,
}

/// Whether a branch ENI sits on a trunk (and so uses one of the node's slots).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Association {
    Associated,
    /// `available`: still holds a subnet IP, no longer a node slot.
    Detached,
}

impl Eni {
    /// Any one signal is enough: moto and unassociated branches report
    /// `InterfaceType` `interface`, so type alone would miss them.
    pub fn role(&self) -> EniRole {
        let is = |field: &Option<Ustr>, value: &str| field.as_deref() == Some(value);
        if is(&self.interface_type, "trunk") || is(&self.description, TRUNK_DESCRIPTION) {
            EniRole::Trunk
        } else if is(&self.interface_type, "branch")
            || is(&self.description, BRANCH_DESCRIPTION)
            || self.trunk_eni_tag.is_some()
        {
            EniRole::Branch
        } else {
            EniRole::Other
        }
    }

    /// Only `available` is detached: `in-use`, `associated` and the short transitional
    /// states still hold the slot, so counting them keeps `remaining` on the safe side.
    pub fn association(&self) -> Association {
        match self.status.as_deref() {
            Some("available") => Association::Detached,
            _ => Association::Associated,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Subnet {
    pub id: String,
    pub vpc_id: Option<String>,
    pub availability_zone: Option<String>,
    pub availability_zone_id: Option<String>,
    pub cidr_block: Option<String>,
    /// The `Name` tag.
    pub name: Option<String>,
    pub available_ip_addresses: u64,
}

/// Usable IPv4 addresses in a CIDR block: AWS reserves five per subnet.
pub fn usable_ipv4_addresses(cidr: &str) -> Option<u64> {
    let (address, prefix) = cidr.split_once('/')?;
    address.parse::<std::net::Ipv4Addr>().ok()?;
    let prefix: u32 = prefix.parse().ok()?;
    if prefix > 32 {
        return None;
    }
    Some((1u64 << (32 - prefix)).saturating_sub(5))
}

/// Everything one EC2 poll (or one snapshot directory) says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Inventory {
    pub enis: Vec<Eni>,
    pub subnets: Vec<Subnet>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 95,000 of these per inventory at the full envelope, two during a poll.
    #[test]
    fn an_eni_takes_no_more_than_144_bytes() {
        assert!(size_of::<Eni>() <= 144, "{} bytes", size_of::<Eni>());
    }

    fn eni(interface_type: Option<&str>, description: Option<&str>, trunk_tag: bool) -> Eni {
        Eni {
            id: "eni-1".into(),
            interface_type: interface_type.map(Into::into),
            description: description.map(Into::into),
            trunk_eni_tag: trunk_tag.then(|| "eni-trunk".into()),
            ..Eni::default()
        }
    }

    #[test]
    fn role_from_type_or_description_or_tag() {
        let cases = [
            (
                "trunk by type",
                eni(Some("trunk"), None, false),
                EniRole::Trunk,
            ),
            (
                "trunk by description (moto, old API)",
                eni(Some("interface"), Some(TRUNK_DESCRIPTION), false),
                EniRole::Trunk,
            ),
            (
                "branch by type",
                eni(Some("branch"), None, false),
                EniRole::Branch,
            ),
            (
                "branch by description",
                eni(Some("interface"), Some(BRANCH_DESCRIPTION), false),
                EniRole::Branch,
            ),
            (
                "unassociated branch: only the tag",
                eni(Some("interface"), None, true),
                EniRole::Branch,
            ),
            (
                "node primary ENI",
                eni(Some("interface"), Some(""), false),
                EniRole::Other,
            ),
        ];
        for (name, eni, want) in cases {
            assert_eq!(eni.role(), want, "{name}");
        }
    }

    #[test]
    fn association_by_status() {
        let with = |status: &str| Eni {
            status: Some(status.into()),
            ..Eni::default()
        };
        assert_eq!(with("in-use").association(), Association::Associated);
        assert_eq!(with("associated").association(), Association::Associated);
        assert_eq!(with("detaching").association(), Association::Associated);
        assert_eq!(with("available").association(), Association::Detached);
    }

    #[test]
    fn usable_addresses() {
        assert_eq!(usable_ipv4_addresses("10.0.0.0/19"), Some(8187));
        assert_eq!(usable_ipv4_addresses("10.0.0.0/24"), Some(251));
        assert_eq!(usable_ipv4_addresses("10.0.0.0/28"), Some(11));
        assert_eq!(usable_ipv4_addresses("10.0.0.0"), None);
        assert_eq!(usable_ipv4_addresses("10.0.0.0/33"), None);
        assert_eq!(usable_ipv4_addresses("fd00::/64"), None);
    }
}
