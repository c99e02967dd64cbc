//! The AWS CLI's JSON shapes (`aws ec2 describe-network-interfaces --output json`,
//! `aws ec2 describe-subnets --output json`): PascalCase, tags as `[{Key, Value}]`.
//! Only the fields the join reads are declared; the rest of what the CLI prints is
//! ignored on read. Written back in the same shape by `snapshot --out`.

use compact_str::CompactString;
use serde::{Deserialize, Serialize};
use ustr::Ustr;

use crate::model::{Eni, Subnet, TAG_INSTANCE_ID, TAG_TRUNK_ENI_ID};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: String,
    #[serde(default)]
    pub value: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "PascalCase")]
pub struct Attachment {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<CompactString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<CompactString>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkInterface {
    pub network_interface_id: CompactString,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface_type: Option<Ustr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Ustr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Ustr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet_id: Option<Ustr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<Ustr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_zone: Option<Ustr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment: Option<Attachment>,
    #[serde(default)]
    pub tag_set: Vec<Tag>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "PascalCase")]
pub struct AwsSubnet {
    pub subnet_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_zone_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr_block: Option<String>,
    #[serde(default)]
    pub available_ip_address_count: u64,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

fn tag<T: for<'a> From<&'a str>>(tags: &[Tag], key: &str) -> Option<T> {
    tags.iter()
        .find(|t| t.key == key)
        .map(|t| t.value.as_str().into())
}

impl From<NetworkInterface> for Eni {
    fn from(ni: NetworkInterface) -> Self {
        Eni {
            trunk_eni_tag: tag(&ni.tag_set, TAG_TRUNK_ENI_ID),
            instance_id_tag: tag(&ni.tag_set, TAG_INSTANCE_ID),
            id: ni.network_interface_id,
            interface_type: ni.interface_type,
            description: ni.description,
            status: ni.status,
            subnet_id: ni.subnet_id,
            vpc_id: ni.vpc_id,
            availability_zone: ni.availability_zone,
            attached_instance_id: ni.attachment.and_then(|a| a.instance_id),
        }
    }
}

impl From<&Eni> for NetworkInterface {
    fn from(eni: &Eni) -> Self {
        let tag_set = [
            (TAG_TRUNK_ENI_ID, &eni.trunk_eni_tag),
            (TAG_INSTANCE_ID, &eni.instance_id_tag),
        ]
        .into_iter()
        .filter_map(|(key, value)| {
            Some(Tag {
                key: key.to_owned(),
                value: value.as_ref()?.to_string(),
            })
        })
        .collect();
        NetworkInterface {
            network_interface_id: eni.id.clone(),
            interface_type: eni.interface_type,
            description: eni.description,
            status: eni.status,
            subnet_id: eni.subnet_id,
            vpc_id: eni.vpc_id,
            availability_zone: eni.availability_zone,
            attachment: eni
                .attached_instance_id
                .clone()
                .map(|instance_id| Attachment {
                    instance_id: Some(instance_id),
                    status: Some("attached".into()),
                }),
            tag_set,
        }
    }
}

impl From<AwsSubnet> for Subnet {
    fn from(s: AwsSubnet) -> Self {
        Subnet {
            name: tag(&s.tags, "Name"),
            id: s.subnet_id,
            vpc_id: s.vpc_id,
            availability_zone: s.availability_zone,
            availability_zone_id: s.availability_zone_id,
            cidr_block: s.cidr_block,
            available_ip_addresses: s.available_ip_address_count,
        }
    }
}

impl From<&Subnet> for AwsSubnet {
    fn from(s: &Subnet) -> Self {
        AwsSubnet {
            subnet_id: s.id.clone(),
            vpc_id: s.vpc_id.clone(),
            availability_zone: s.availability_zone.clone(),
            availability_zone_id: s.availability_zone_id.clone(),
            cidr_block: s.cidr_block.clone(),
            available_ip_address_count: s.available_ip_addresses,
            tags: s
                .name
                .iter()
                .map(|name| Tag {
                    key: "Name".into(),
                    value: name.clone(),
                })
                .collect(),
        }
    }
}
