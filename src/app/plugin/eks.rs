//! The EKS cluster behind a kubeconfig context, so `kubectl pod-eni` needs no flags:
//! `aws eks update-kubeconfig` names the context and the cluster by the cluster's ARN,
//! points the server at `https://<id>.<zone-ish>.<region>.eks.amazonaws.com`, and
//! writes an exec credential plugin `aws --region R eks get-token --cluster-name N`.
//! `eksctl` and hand-written files keep the server and the exec arguments (or
//! `aws-iam-authenticator token -i N`) even when they rename the context.

use kube::config::Kubeconfig;

/// A value and where it was found, which the plugin says out loud.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub value: String,
    pub from: String,
}

/// What the context tells of the EKS cluster.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EksContext {
    /// The context used (the current one unless `--context` named another).
    pub context: Option<String>,
    pub cluster_name: Option<Found>,
    pub region: Option<Found>,
    /// The context's namespace, which `-n` overrides.
    pub namespace: Option<String>,
}

/// Reads the cluster name and region from `context` (else the current context).
/// Missing pieces stay `None`; the caller asks for the flag.
pub fn infer(kubeconfig: &Kubeconfig, context: Option<&str>) -> Result<EksContext, String> {
    let name = context
        .map(str::to_owned)
        .or_else(|| kubeconfig.current_context.clone());
    let Some(name) = name else {
        return Ok(EksContext::default());
    };
    let Some(named) = kubeconfig.contexts.iter().find(|c| c.name == name) else {
        return Err(format!("the kubeconfig has no context {name:?}"));
    };
    let context = named.context.as_ref();
    let cluster = context.map(|c| c.cluster.as_str());
    let user = context.and_then(|c| c.user.as_deref());
    let server = cluster.and_then(|cluster| {
        kubeconfig
            .clusters
            .iter()
            .find(|c| c.name == cluster)
            .and_then(|c| c.cluster.as_ref()?.server.clone())
    });
    let exec = user.and_then(|user| {
        let auth = kubeconfig.auth_infos.iter().find(|a| a.name == user)?;
        let exec = auth.auth_info.as_ref()?.exec.as_ref()?;
        Some((exec.command.clone()?, exec.args.clone().unwrap_or_default()))
    });

    let mut names = Vec::new();
    let mut regions = Vec::new();
    if let Some((command, args)) = &exec {
        let (cluster_flag, region_flag) = match program(command) {
            "aws" => (Some("--cluster-name"), Some("--region")),
            "aws-iam-authenticator" => (Some("--cluster-id"), None),
            _ => (None, None),
        };
        let by = |value: String| Found {
            value,
            from: format!(
                "the exec credential command of user {:?}",
                user.unwrap_or_default()
            ),
        };
        if let Some(flag) = cluster_flag {
            let short = (flag == "--cluster-id").then_some("-i");
            names.extend(flag_value(args, flag, short).map(by));
        }
        if let Some(flag) = region_flag {
            regions.extend(flag_value(args, flag, None).map(by));
        }
    }
    for (what, text) in [("context", Some(name.as_str())), ("cluster", cluster)] {
        if let Some((region, cluster_name)) = text.and_then(parse_arn) {
            let from = format!("the {what} name {:?}", text.unwrap_or_default());
            names.push(Found {
                value: cluster_name,
                from: from.clone(),
            });
            regions.push(Found {
                value: region,
                from,
            });
        }
    }
    if let Some(region) = server.as_deref().and_then(region_of_endpoint) {
        regions.push(Found {
            value: region,
            from: format!("the API server {:?}", server.unwrap_or_default()),
        });
    }
    Ok(EksContext {
        context: Some(name),
        cluster_name: names.into_iter().next(),
        region: regions.into_iter().next(),
        namespace: context.and_then(|c| c.namespace.clone()),
    })
}

/// `/usr/local/bin/aws` and `aws.exe` are both `aws`.
fn program(command: &str) -> &str {
    let base = command.rsplit(['/', '\\']).next().unwrap_or(command);
    base.strip_suffix(".exe").unwrap_or(base)
}

/// The value of `--flag V`, `--flag=V` (or `-s V`) in exec arguments.
fn flag_value(args: &[String], flag: &str, short: Option<&str>) -> Option<String> {
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if arg == flag || Some(arg.as_str()) == short {
            return args.next().filter(|v| !v.is_empty()).cloned();
        }
        if let Some(value) = arg
            .strip_prefix(flag)
            .and_then(|rest| rest.strip_prefix('='))
        {
            return Some(value.to_owned()).filter(|v| !v.is_empty());
        }
    }
    None
}

/// `arn:PARTITION:eks:REGION:ACCOUNT:cluster/NAME` → (region, name).
fn parse_arn(text: &str) -> Option<(String, String)> {
    let mut parts = text.splitn(6, ':');
    let (arn, _partition, service, region, _account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let name = resource.strip_prefix("cluster/")?;
    (arn == "arn" && service == "eks" && !region.is_empty() && !name.is_empty())
        .then(|| (region.to_owned(), name.to_owned()))
}

/// The region in an EKS endpoint, `https://ABC.gr7.eu-west-1.eks.amazonaws.com`
/// (`.eks.amazonaws.com.cn` in China); the cluster's name is not in it.
fn region_of_endpoint(server: &str) -> Option<String> {
    let host = server
        .split_once("://")
        .map_or(server, |(_, rest)| rest)
        .split(['/', ':'])
        .next()?;
    let stem = host
        .strip_suffix(".eks.amazonaws.com")
        .or_else(|| host.strip_suffix(".eks.amazonaws.com.cn"))?;
    let region = stem.rsplit('.').next()?;
    (!region.is_empty() && stem.contains('.')).then(|| region.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `aws eks update-kubeconfig --name prod-eu --region eu-west-1` writes.
    const UPDATE_KUBECONFIG: &str = r#"
apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: LS0t
    server: https://0123456789ABCDEF0123456789ABCDEF.gr7.eu-west-1.eks.amazonaws.com
  name: arn:aws:eks:eu-west-1:111122223333:cluster/prod-eu
contexts:
- context:
    cluster: arn:aws:eks:eu-west-1:111122223333:cluster/prod-eu
    user: arn:aws:eks:eu-west-1:111122223333:cluster/prod-eu
  name: arn:aws:eks:eu-west-1:111122223333:cluster/prod-eu
- context:
    cluster: staging
    user: eksctl
    namespace: shop
  name: staging
- context:
    cluster: kind
    user: kind
  name: kind-local
current-context: arn:aws:eks:eu-west-1:111122223333:cluster/prod-eu
users:
- name: arn:aws:eks:eu-west-1:111122223333:cluster/prod-eu
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: aws
      args: [--region, eu-west-1, eks, get-token, --cluster-name, prod-eu, --output, json]
- name: eksctl
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: /usr/local/bin/aws-iam-authenticator
      args: [token, -i, staging-2]
- name: kind
  user:
    token: abc
"#;

    fn kubeconfig() -> Kubeconfig {
        Kubeconfig::from_yaml(UPDATE_KUBECONFIG).unwrap()
    }

    #[test]
    fn update_kubeconfig_contexts_name_the_cluster_and_region() {
        let found = infer(&kubeconfig(), None).unwrap();
        assert_eq!(found.cluster_name.as_ref().unwrap().value, "prod-eu");
        assert!(found.cluster_name.unwrap().from.contains("exec credential"));
        assert_eq!(found.region.unwrap().value, "eu-west-1");
    }

    #[test]
    fn renamed_contexts_still_give_the_exec_arguments_and_the_endpoint() {
        let found = infer(&kubeconfig(), Some("staging")).unwrap();
        assert_eq!(found.cluster_name.unwrap().value, "staging-2");
        assert_eq!(found.region, None, "no server, no --region, no ARN");
        assert_eq!(found.namespace.as_deref(), Some("shop"));
        let kind = infer(&kubeconfig(), Some("kind-local")).unwrap();
        assert_eq!((kind.cluster_name, kind.region), (None, None));
        assert!(
            infer(&kubeconfig(), Some("nope"))
                .unwrap_err()
                .contains("no context")
        );
    }

    #[test]
    fn arns_endpoints_and_flags_are_read_strictly() {
        assert_eq!(
            parse_arn("arn:aws-cn:eks:cn-north-1:1:cluster/a:b"),
            Some(("cn-north-1".into(), "a:b".into()))
        );
        for not_eks in [
            "arn:aws:ecs:eu-west-1:1:cluster/x",
            "arn:aws:eks:eu-west-1:1:nodegroup/x",
            "arn:aws:eks::1:cluster/x",
            "prod-eu",
        ] {
            assert_eq!(parse_arn(not_eks), None, "{not_eks}");
        }
        assert_eq!(
            region_of_endpoint("https://ABC.yl4.us-east-2.eks.amazonaws.com:443/"),
            Some("us-east-2".into())
        );
        assert_eq!(region_of_endpoint("https://eks.amazonaws.com"), None);
        assert_eq!(region_of_endpoint("https://127.0.0.1:6443"), None);
        let args: Vec<String> = ["--cluster-name=a", "--region"].map(String::from).to_vec();
        assert_eq!(flag_value(&args, "--cluster-name", None), Some("a".into()));
        assert_eq!(
            flag_value(&args, "--region", None),
            None,
            "no value after it"
        );
        assert_eq!(program("C:\\bin\\aws.exe"), "aws");
    }
}
