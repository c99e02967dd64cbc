//! An EC2 stand-in for the envelope: `DescribeNetworkInterfaces` and `DescribeSubnets` in
//! the query protocol, paginated by `MaxResults`/`NextToken`, for the synthetic world's
//! trunks and branches. Each ENI is rendered as EC2 returns it (security groups, private
//! IPs, tags, attachment: about 1.4 KB), once, so a poll is as large as a real one.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use tokio::net::TcpListener;

use crate::support::{
    self,
    synthetic::{SyntheticEni, World},
};

struct Inventory {
    enis: Vec<String>,
    subnets: Vec<String>,
    requests: AtomicUsize,
}

#[derive(Clone)]
pub struct Ec2StandIn {
    inventory: Arc<Inventory>,
}

impl Ec2StandIn {
    pub fn new(world: World) -> Self {
        let enis = world.enis().map(|eni| eni_xml(&world, &eni)).collect();
        let subnets = (0..world.subnets)
            .map(|s| {
                format!(
                    "<item><subnetId>{}</subnetId><vpcId>vpc-0a3c5e7f9b1d2e4f6</vpcId><availabilityZone>eu-west-1a</availabilityZone><cidrBlock>10.{}.0.0/19</cidrBlock><availableIpAddressCount>4000</availableIpAddressCount><tagSet><item><key>Name</key><value>prod-private-{s}</value></item></tagSet></item>",
                    world.subnet_id(s),
                    s % 256
                )
            })
            .collect();
        Self {
            inventory: Arc::new(Inventory {
                enis,
                subnets,
                requests: AtomicUsize::new(0),
            }),
        }
    }

    /// The bytes of one full poll's ENI items.
    pub fn eni_bytes(&self) -> usize {
        self.inventory.enis.iter().map(String::len).sum()
    }

    pub fn requests(&self) -> usize {
        self.inventory.requests.load(Ordering::Relaxed)
    }

    /// Serves on a free loopback port; returns the endpoint URL.
    pub async fn start(&self) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let stub = self.clone();
        support::serve_http(listener, move |request| {
            let stub = stub.clone();
            async move { stub.respond(request).await }
        });
        format!("http://{address}")
    }

    async fn respond(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        self.inventory.requests.fetch_add(1, Ordering::Relaxed);
        let body = request
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
        let page_size: usize = form
            .get("MaxResults")
            .and_then(|m| m.parse().ok())
            .unwrap_or(1000);
        let start: usize = form
            .get("NextToken")
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        let (action, set, items) = match form.get("Action").map(String::as_str) {
            Some("DescribeNetworkInterfaces") => (
                "DescribeNetworkInterfaces",
                "networkInterfaceSet",
                &self.inventory.enis,
            ),
            _ => ("DescribeSubnets", "subnetSet", &self.inventory.subnets),
        };
        let end = items.len().min(start.saturating_add(page_size.max(1)));
        let page = &items[start.min(end)..end];
        let mut xml = String::with_capacity(page.iter().map(String::len).sum::<usize>() + 400);
        let _ = write!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{action}Response xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>5f5b8c2e-envelope</requestId><{set}>"
        );
        for item in page {
            xml.push_str(item);
        }
        let _ = write!(xml, "</{set}>");
        if end < items.len() {
            let _ = write!(xml, "<nextToken>{end}</nextToken>");
        }
        let _ = write!(xml, "</{action}Response>");
        Response::new(Full::new(Bytes::from(xml)))
    }
}

fn eni_xml(world: &World, eni: &SyntheticEni) -> String {
    let (role, attachment, extra_tags) = if eni.trunk {
        (
            "trunk",
            format!(
                "<attachment><attachmentId>eni-attach-{:017x}</attachmentId><deviceIndex>2</deviceIndex><networkCardIndex>0</networkCardIndex><instanceId>i-{:017x}</instanceId><instanceOwnerId>111122223333</instanceOwnerId><status>attached</status><attachTime>2026-11-20T08:01:00.000Z</attachTime><deleteOnTermination>true</deleteOnTermination></attachment>",
                eni.node, eni.node
            ),
            String::new(),
        )
    } else {
        (
            "branch",
            String::new(),
            format!(
                "<item><key>vpcresources.k8s.aws/trunk-eni-id</key><value>eni-t{:016x}</value></item><item><key>vpcresources.k8s.aws/vlan-id</key><value>4</value></item>",
                eni.node
            ),
        )
    };
    format!(
        "<item><networkInterfaceId>{id}</networkInterfaceId><subnetId>{subnet}</subnetId><vpcId>vpc-0a3c5e7f9b1d2e4f6</vpcId><availabilityZone>eu-west-1a</availabilityZone><description>aws-k8s-{role}-eni</description><ownerId>111122223333</ownerId><requesterManaged>false</requesterManaged><status>in-use</status><macAddress>02:1f:aa:bb:cc:dd</macAddress><privateIpAddress>10.0.3.7</privateIpAddress><privateDnsName>ip-10-0-3-7.eu-west-1.compute.internal</privateDnsName><sourceDestCheck>true</sourceDestCheck><interfaceType>{role}</interfaceType><groupSet><item><groupId>sg-0f00dfeed0123abcd</groupId><groupName>shop-db-clients</groupName></item></groupSet>{attachment}<tagSet><item><key>eks:eni:owner</key><value>eks-vpc-resource-controller</value></item><item><key>kubernetes.io/cluster/prod</key><value>owned</value></item>{extra_tags}</tagSet><privateIpAddressesSet><item><privateIpAddress>10.0.3.7</privateIpAddress><privateDnsName>ip-10-0-3-7.eu-west-1.compute.internal</privateDnsName><primary>true</primary></item></privateIpAddressesSet><ipv6AddressesSet/><ipv4PrefixSet/><ipv6PrefixSet/><operator><managed>false</managed></operator></item>",
        id = eni.id,
        subnet = world.subnet_id(eni.node),
    )
}
