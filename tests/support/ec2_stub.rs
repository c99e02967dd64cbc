//! An EC2 stand-in speaking the query protocol for `DescribeNetworkInterfaces` and
//! `DescribeSubnets`: it honours `MaxResults` and `NextToken` (which moto ignores), or
//! answers every request with throttling. Used by the tests and the scale benchmark.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use tokio::net::TcpListener;

#[derive(Clone, Default)]
pub struct Ec2Stub {
    /// Every request's form parameters, in order.
    pub requests: Arc<Mutex<Vec<HashMap<String, String>>>>,
    /// Branch ENIs behind one trunk (`eni-trunk` on `i-1` in `vpc-1`).
    pub branches: usize,
    pub subnets: usize,
    pub throttle: bool,
}

impl Ec2Stub {
    pub fn new(branches: usize, subnets: usize) -> Self {
        Self {
            branches,
            subnets,
            ..Self::default()
        }
    }

    /// Serves on a free loopback port; returns the endpoint URL.
    pub async fn start(self) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind stub");
        let address = listener.local_addr().expect("address");
        super::serve_http(listener, move |request| {
            let stub = self.clone();
            async move { stub.respond(request).await }
        });
        format!("http://{address}")
    }

    pub fn request_count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    async fn respond(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let body = request
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
        self.requests.lock().unwrap().push(form.clone());
        if self.throttle {
            let xml = "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>r</RequestID></Response>";
            let mut response = Response::new(Full::new(Bytes::from(xml)));
            *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            return response;
        }
        let page_size: usize = form
            .get("MaxResults")
            .and_then(|m| m.parse().ok())
            .unwrap_or(usize::MAX);
        let start: usize = form
            .get("NextToken")
            .and_then(|t| t.strip_prefix("from-"))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let xml = match form.get("Action").map(String::as_str) {
            Some("DescribeNetworkInterfaces") => {
                // Item 0 is the trunk, then the branches.
                let total = self.branches + 1;
                let end = total.min(start.saturating_add(page_size));
                let mut items = String::new();
                for index in start..end {
                    items.push_str(&if index == 0 {
                        "<item><networkInterfaceId>eni-trunk</networkInterfaceId><description>aws-k8s-trunk-eni</description><interfaceType>trunk</interfaceType><status>in-use</status><vpcId>vpc-1</vpcId><attachment><instanceId>i-1</instanceId></attachment></item>".to_owned()
                    } else {
                        format!("<item><networkInterfaceId>eni-{index}</networkInterfaceId><description>aws-k8s-branch-eni</description><status>in-use</status><subnetId>subnet-{}</subnetId><vpcId>vpc-1</vpcId><tagSet><item><key>vpcresources.k8s.aws/trunk-eni-id</key><value>eni-trunk</value></item></tagSet></item>", index % self.subnets.max(1))
                    });
                }
                format!(
                    "<DescribeNetworkInterfacesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>r</requestId><networkInterfaceSet>{items}</networkInterfaceSet>{}</DescribeNetworkInterfacesResponse>",
                    next_token(end, total)
                )
            }
            _ => {
                let end = self.subnets.min(start.saturating_add(page_size));
                let items: String = (start..end)
                    .map(|i| format!("<item><subnetId>subnet-{i}</subnetId><vpcId>vpc-1</vpcId><cidrBlock>10.{}.{}.0/24</cidrBlock><availableIpAddressCount>200</availableIpAddressCount></item>", i / 256, i % 256))
                    .collect();
                format!(
                    "<DescribeSubnetsResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>r</requestId><subnetSet>{items}</subnetSet>{}</DescribeSubnetsResponse>",
                    next_token(end, self.subnets)
                )
            }
        };
        Response::new(Full::new(Bytes::from(xml)))
    }
}

fn next_token(end: usize, total: usize) -> String {
    if end < total {
        format!("<nextToken>from-{end}</nextToken>")
    } else {
        String::new()
    }
}
