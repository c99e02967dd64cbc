//! SDK types → the model's `Eni`/`Subnet`, once, at the edge.

use aws_sdk_ec2::types::{NetworkInterface, Subnet as SdkSubnet, Tag};
use compact_str::CompactString;
use ustr::Ustr;

use crate::model::{Eni, Subnet, TAG_INSTANCE_ID, TAG_TRUNK_ENI_ID};

fn tag<T: for<'a> From<&'a str>>(tags: &[Tag], key: &str) -> Option<T> {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
        .map(T::from)
}

/// `None` for an interface without an id, which EC2 never returns.
pub fn eni_from_sdk(ni: &NetworkInterface) -> Option<Eni> {
    let tags = ni.tag_set();
    Some(Eni {
        id: ni.network_interface_id()?.into(),
        interface_type: ni.interface_type().map(|t| Ustr::from(t.as_str())),
        description: ni.description().map(Ustr::from),
        status: ni.status().map(|s| Ustr::from(s.as_str())),
        subnet_id: ni.subnet_id().map(Ustr::from),
        vpc_id: ni.vpc_id().map(Ustr::from),
        availability_zone: ni.availability_zone().map(Ustr::from),
        attached_instance_id: ni
            .attachment()
            .and_then(|a| a.instance_id())
            .map(CompactString::from),
        trunk_eni_tag: tag(tags, TAG_TRUNK_ENI_ID),
        instance_id_tag: tag(tags, TAG_INSTANCE_ID),
    })
}

pub fn subnet_from_sdk(subnet: &SdkSubnet) -> Option<Subnet> {
    Some(Subnet {
        id: subnet.subnet_id()?.to_owned(),
        vpc_id: subnet.vpc_id().map(str::to_owned),
        availability_zone: subnet.availability_zone().map(str::to_owned),
        availability_zone_id: subnet.availability_zone_id().map(str::to_owned),
        cidr_block: subnet.cidr_block().map(str::to_owned),
        name: tag(subnet.tags(), "Name"),
        available_ip_addresses: subnet
            .available_ip_address_count()
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::{
        NetworkInterfaceAttachment, NetworkInterfaceStatus, NetworkInterfaceType,
    };

    fn tag(key: &str, value: &str) -> Tag {
        Tag::builder().key(key).value(value).build()
    }

    #[test]
    fn branch_and_trunk_from_sdk() {
        let branch = NetworkInterface::builder()
            .network_interface_id("eni-b")
            .interface_type(NetworkInterfaceType::Branch)
            .status(NetworkInterfaceStatus::InUse)
            .subnet_id("subnet-1")
            .tag_set(tag(TAG_TRUNK_ENI_ID, "eni-t"))
            .build();
        let eni = eni_from_sdk(&branch).expect("has an id");
        assert_eq!(eni.interface_type.as_deref(), Some("branch"));
        assert_eq!(eni.status.as_deref(), Some("in-use"));
        assert_eq!(eni.trunk_eni_tag.as_deref(), Some("eni-t"));
        assert_eq!(eni.attached_instance_id, None);

        let trunk = NetworkInterface::builder()
            .network_interface_id("eni-t")
            .interface_type(NetworkInterfaceType::Trunk)
            .attachment(
                NetworkInterfaceAttachment::builder()
                    .instance_id("i-1")
                    .build(),
            )
            .build();
        assert_eq!(
            eni_from_sdk(&trunk).and_then(|e| e.attached_instance_id),
            Some("i-1".into())
        );
        assert_eq!(eni_from_sdk(&NetworkInterface::builder().build()), None);
    }

    #[test]
    fn subnet_from_sdk_reads_name_and_counts() {
        let subnet = SdkSubnet::builder()
            .subnet_id("subnet-1")
            .cidr_block("10.0.0.0/24")
            .available_ip_address_count(200)
            .tags(tag("Name", "private-a"))
            .build();
        let subnet = subnet_from_sdk(&subnet).expect("has an id");
        assert_eq!(subnet.name.as_deref(), Some("private-a"));
        assert_eq!(subnet.available_ip_addresses, 200);
    }
}
