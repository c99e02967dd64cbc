//! The EC2 adapter: one paginated `DescribeNetworkInterfaces` selected by the cluster's
//! tags and one paginated `DescribeSubnets` for the VPCs seen, paced so the exporter
//! never starves the VPC resource controller and the CNI of the account's shared
//! Describe budget. Errors are mapped to a bounded set of codes for the metrics.

mod convert;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_ec2::Client;
use aws_sdk_ec2::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_ec2::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_ec2::error::{BoxError, ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::types::Filter;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use tokio::sync::Mutex;
use tokio::time::{Interval, MissedTickBehavior};

pub use convert::{eni_from_sdk, subnet_from_sdk};

use crate::metrics::Metrics;
use crate::model::{Eni, EniRole, Inventory, Subnet};

pub const DESCRIBE_NETWORK_INTERFACES: &str = "DescribeNetworkInterfaces";
pub const DESCRIBE_SUBNETS: &str = "DescribeSubnets";
/// Bounds on `max_requests_per_second`: one a minute to 1,000 a second.
pub const MIN_REQUEST_RATE: f64 = 1.0 / 60.0;
pub const MAX_REQUEST_RATE: f64 = 1000.0;
/// The largest page EC2 returns.
const PAGE_SIZE: i32 = 1000;
/// Requests the very first poll may make without waiting for the pace: the exporter is
/// not ready before that poll, and at 5 requests/s the 96 requests of a 5,000-node
/// cluster would take 19 s. 30 is under a third of EC2's bucket of 100 Describe tokens
/// (refilled at 20/s), so the controller and the CNIs keep most of it; every later
/// poll is paced from its first request.
const FIRST_POLL_BURST: u32 = 30;

#[derive(Debug, Clone)]
pub struct Ec2Settings {
    pub cluster_name: String,
    /// Restricts the ENI query to this VPC and always lists its subnets.
    pub vpc_id: Option<String>,
    pub max_requests_per_second: f64,
}

/// A failed call, with the bounded code used as a metric label.
#[derive(Debug, thiserror::Error)]
#[error("{operation} failed ({code}): {message}")]
pub struct Ec2Error {
    pub operation: &'static str,
    pub code: &'static str,
    pub message: String,
}

pub struct Ec2Poller {
    client: Client,
    settings: Ec2Settings,
    /// One tick per request: a steady pace, whatever the number of pages.
    pacer: Mutex<Interval>,
    /// Requests left that may skip the pace (the first poll's burst).
    burst: AtomicU32,
    metrics: Metrics,
}

impl Ec2Poller {
    /// Wraps `client` so that every HTTP attempt it makes is counted.
    pub fn new(client: Client, settings: Ec2Settings, metrics: Metrics) -> Self {
        let config = client
            .config()
            .to_builder()
            .interceptor(CountAttempts {
                metrics: metrics.clone(),
            })
            .build();
        let client = Client::from_conf(config);
        // The CLI refuses rates outside these bounds; a library caller's are clamped so
        // the period is never zero nor beyond what a Duration holds.
        let rate = settings.max_requests_per_second;
        let rate = if rate.is_finite() && rate > 0.0 {
            rate.clamp(MIN_REQUEST_RATE, MAX_REQUEST_RATE)
        } else {
            1.0
        };
        let mut pacer = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
        pacer.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Self {
            client,
            settings,
            pacer: Mutex::new(pacer),
            burst: AtomicU32::new(FIRST_POLL_BURST),
            metrics,
        }
    }

    /// A client from the SDK's default chain: environment, IRSA web identity, EKS Pod
    /// Identity, instance profile; `AWS_ENDPOINT_URL_EC2` overrides the endpoint.
    pub async fn client_from_env(region: Option<String>) -> Client {
        // Without timeouts a hung connection would stall the poll forever while the
        // exporter kept reporting EC2 as up.
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(5))
            .read_timeout(Duration::from_secs(30))
            .operation_attempt_timeout(Duration::from_secs(30))
            .operation_timeout(Duration::from_secs(120))
            .build();
        let mut loader =
            aws_config::defaults(aws_config::BehaviorVersion::latest()).timeout_config(timeouts);
        if let Some(region) = region {
            loader = loader.region(aws_config::Region::new(region));
        }
        Client::new(&loader.load().await)
    }

    /// Lists the cluster's trunk and branch ENIs, then the subnets of their VPCs.
    pub async fn poll(&self) -> Result<Inventory, Ec2Error> {
        let started = Instant::now();
        let result = self.poll_once().await;
        self.end_burst();
        self.metrics
            .ec2_poll_duration(started.elapsed().as_secs_f64());
        result
    }

    async fn poll_once(&self) -> Result<Inventory, Ec2Error> {
        let enis = self.describe_network_interfaces().await?;
        let mut vpcs: BTreeSet<String> = enis
            .iter()
            .filter(|e| e.role() == EniRole::Trunk)
            .filter_map(|e| e.vpc_id.as_deref().map(str::to_owned))
            .collect();
        vpcs.extend(self.settings.vpc_id.clone());
        let subnets = if vpcs.is_empty() {
            Vec::new()
        } else {
            self.describe_subnets(vpcs.into_iter().collect()).await?
        };
        Ok(Inventory { enis, subnets })
    }

    async fn describe_network_interfaces(&self) -> Result<Vec<Eni>, Ec2Error> {
        let mut filters = vec![
            Filter::builder()
                .name(format!(
                    "tag:kubernetes.io/cluster/{}",
                    self.settings.cluster_name
                ))
                .values("owned")
                .build(),
            Filter::builder()
                .name("tag:eks:eni:owner")
                .values("eks-vpc-resource-controller")
                .build(),
        ];
        if let Some(vpc) = &self.settings.vpc_id {
            filters.push(Filter::builder().name("vpc-id").values(vpc).build());
        }
        let mut pages = self
            .client
            .describe_network_interfaces()
            .set_filters(Some(filters))
            .max_results(PAGE_SIZE)
            .into_paginator()
            .send();
        let mut enis = Vec::new();
        // The paginator sends the next request only when asked for the next page, so
        // pacing before each `next` paces every request.
        while let Some(page) = self.paced(pages.next()).await {
            let page = page.map_err(|e| self.failed(DESCRIBE_NETWORK_INTERFACES, e))?;
            enis.extend(page.network_interfaces().iter().filter_map(eni_from_sdk));
        }
        Ok(enis)
    }

    async fn describe_subnets(&self, vpcs: Vec<String>) -> Result<Vec<Subnet>, Ec2Error> {
        let mut pages = self
            .client
            .describe_subnets()
            .filters(
                Filter::builder()
                    .name("vpc-id")
                    .set_values(Some(vpcs))
                    .build(),
            )
            .max_results(PAGE_SIZE)
            .into_paginator()
            .send();
        let mut subnets = Vec::new();
        while let Some(page) = self.paced(pages.next()).await {
            let page = page.map_err(|e| self.failed(DESCRIBE_SUBNETS, e))?;
            subnets.extend(page.subnets().iter().filter_map(subnet_from_sdk));
        }
        Ok(subnets)
    }

    /// Waits for the pace (unless the first poll's burst allows it), then runs `request`.
    async fn paced<T>(&self, request: impl std::future::Future<Output = T>) -> T {
        let bursting = self
            .burst
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(1)
            })
            .is_ok();
        if !bursting {
            self.pacer.lock().await.tick().await;
        }
        request.await
    }

    /// Ends the first poll's burst: whatever it did not use is not kept for later.
    fn end_burst(&self) {
        self.burst.store(0, Ordering::Relaxed);
    }

    fn failed<E, R>(&self, operation: &'static str, error: SdkError<E, R>) -> Ec2Error
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let code = error_code(&error);
        self.metrics.ec2_error(operation, code);
        Ec2Error {
            operation,
            code,
            message: aws_sdk_ec2::error::DisplayErrorContext(&error).to_string(),
        }
    }
}

/// Maps an SDK error onto the bounded label set of `podeni_ec2_request_errors_total`.
fn error_code<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> &'static str {
    match error {
        // Timeouts and every failure to deliver the request (refused, reset, closed
        // early), except a bad configuration on our side.
        SdkError::TimeoutError(_) => "network",
        SdkError::DispatchFailure(failure) if !failure.is_user() => "network",
        _ => match error.code() {
            Some("RequestLimitExceeded" | "Throttling" | "ThrottlingException") => {
                "RequestLimitExceeded"
            }
            Some("UnauthorizedOperation") => "UnauthorizedOperation",
            Some("AuthFailure") => "AuthFailure",
            _ => "other",
        },
    }
}

/// Counts every HTTP attempt, the SDK's retries included: that is what draws on the
/// account's request budget.
#[derive(Debug)]
struct CountAttempts {
    metrics: Metrics,
}

impl Intercept for CountAttempts {
    fn name(&self) -> &'static str {
        "CountAttempts"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // Map onto the static operation labels; other operations are never called.
        let operation = match cfg.load::<Metadata>().map(Metadata::name) {
            Some(DESCRIBE_NETWORK_INTERFACES) => DESCRIBE_NETWORK_INTERFACES,
            Some(DESCRIBE_SUBNETS) => DESCRIBE_SUBNETS,
            _ => return Ok(()),
        };
        self.metrics.ec2_request(operation);
        Ok(())
    }
}
