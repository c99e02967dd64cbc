//! The controller's cool-down, read from ConfigMap `kube-system/amazon-vpc-cni`
//! (key `branch-eni-cooldown`, in seconds) when the exporter is allowed to: the
//! optional Role in `deploy/kubernetes/optional/` grants exactly that.

use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::{Api, Client};

use crate::accounting::DEFAULT_BRANCH_ENI_COOLDOWN;

pub const CNI_CONFIG_NAMESPACE: &str = "kube-system";
pub const CNI_CONFIG_NAME: &str = "amazon-vpc-cni";
pub const COOLDOWN_KEY: &str = "branch-eni-cooldown";
/// The controller never cools down for less than this.
pub const MIN_COOLDOWN: Duration = Duration::from_secs(30);

/// What the cluster says about the cool-down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CooldownSetting {
    /// Set in the ConfigMap (raised to the controller's minimum).
    Configured(Duration),
    /// The ConfigMap or its key is absent: the controller's default applies.
    Unset,
    /// The value is not a whole number of seconds: the controller ignores it too.
    Invalid(String),
}

impl CooldownSetting {
    /// The cool-down the controller applies: the configured one, else its default.
    pub fn cooldown(&self) -> Duration {
        match self {
            CooldownSetting::Configured(value) => *value,
            CooldownSetting::Unset | CooldownSetting::Invalid(_) => DEFAULT_BRANCH_ENI_COOLDOWN,
        }
    }
}

/// Reads the setting; a 403 (the optional Role is not installed) is an error for the
/// caller to log once and fall back on.
pub async fn read_cooldown(client: &Client) -> Result<CooldownSetting, kube::Error> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), CNI_CONFIG_NAMESPACE);
    let Some(config_map) = api.get_opt(CNI_CONFIG_NAME).await? else {
        return Ok(CooldownSetting::Unset);
    };
    Ok(parse_cooldown(
        config_map
            .data
            .as_ref()
            .and_then(|data| data.get(COOLDOWN_KEY))
            .map(String::as_str),
    ))
}

pub fn parse_cooldown(raw: Option<&str>) -> CooldownSetting {
    match raw.map(str::trim) {
        None | Some("") => CooldownSetting::Unset,
        Some(text) => match text.parse::<u64>() {
            Ok(seconds) => {
                CooldownSetting::Configured(Duration::from_secs(seconds).max(MIN_COOLDOWN))
            }
            Err(_) => CooldownSetting::Invalid(text.to_owned()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cooldown_values() {
        assert_eq!(parse_cooldown(None), CooldownSetting::Unset);
        assert_eq!(parse_cooldown(Some(" ")), CooldownSetting::Unset);
        assert_eq!(
            parse_cooldown(Some("120")),
            CooldownSetting::Configured(Duration::from_secs(120))
        );
        assert_eq!(
            parse_cooldown(Some("10")),
            CooldownSetting::Configured(MIN_COOLDOWN),
            "below the controller's minimum"
        );
        assert_eq!(
            parse_cooldown(Some("1m")),
            CooldownSetting::Invalid("1m".into())
        );
    }
}
