#!/usr/bin/env python3
"""Writes the snapshot directories under examples/ in the exact shapes that
`kubectl get nodes|pods -o json` and `aws ec2 describe-network-interfaces|describe-subnets
--output json` print. Run it after changing a scenario: python3 examples/make-examples.py

Scenarios:
  incident/  the incident of DESIGN §1 on ip-10-0-1-10 (m5a.xlarge, 18 branch ENIs):
             13 running SGP pods + 3 db-migrate Job pods that completed hours ago +
             1 Job pod that completed 35 s before the capture + 1 ENI in the
             controller's cool-down fill the trunk; kubectl counts 14 of 18; one new pod
             waits. The incident ran on a controller from before v1.1.0, which kept a
             completed pod's ENI until the pod was deleted; read with today's rules the
             three old ones are leaked (the release failed) and the fresh one is being
             released. A Job pod that waited for its ENI there was killed by its
             activeDeadlineSeconds before its container ran. On the second node a pod
             evicted 20 s before the capture (containers removed: no finish time, a Ready
             condition 13 minutes older) still holds its ENI in the cool-down. Also a
             node with an orphaned ENI and no pod-eni allocatable (legacy labels), a
             detached ENI, a Fargate node, a plain node.
  healthy/   two nodes whose every branch ENI belongs to a running pod (cluster
             prod-us, its own VPC and subnets).
  waiting/   a batch cluster (batch-eu, its own VPC) whose subnet in zone b has run
             out of addresses: the node there has free slots, but the controller cannot
             create branch ENIs, so two new pods wait in ContainerCreating. With the
             other two it makes the fleet of tests/fleet.rs: one cluster full with
             leaks, one healthy, one with pods waiting (and a node named like one
             of prod-us's).

Each directory has a metadata.json with the capture time, as `snapshot --out` writes
it: ages are measured to that time, so the audit reads the same on any day.
"""
import json
import os

ACCOUNT = "111122223333"
REGION = "eu-west-1"
CLUSTER = "prod-eu"
VPC = "vpc-0a3c5e7f9b1d2e4f6"
SUBNETS = {
    "a": ("subnet-0a11c0ffee0000001", "10.0.0.0/19", "euw1-az1", 7893),
    "b": ("subnet-0b22c0ffee0000002", "10.0.32.0/19", "euw1-az2", 8012),
    "c": ("subnet-0c33c0ffee0000003", "10.0.64.0/19", "euw1-az3", 402),
}


def network(cluster, vpc, subnet_prefix):
    """Another cluster's VPC: subnets with the same CIDRs and zones as SUBNETS (clusters
    in different VPCs often reuse them), their own IDs."""
    subnets = {zone: (f"subnet-{subnet_prefix}{sid[-13:]}", cidr, az, free)
               for zone, (sid, cidr, az, free) in SUBNETS.items()}
    return cluster, vpc, subnets
HERE = os.path.dirname(os.path.abspath(__file__))
CAPTURED_AT = "2026-11-24T09:45:00Z"


def hexid(prefix, *parts):
    digest = 0
    for ch in "/".join(str(p) for p in parts):
        digest = (digest * 131 + ord(ch)) % (16**17)
    return f"{prefix}-{digest:017x}"


def uid(*parts):
    h = hexid("u", *parts)[2:].ljust(32, "0")
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


class World:
    def __init__(self, free_ips=None, net=(CLUSTER, VPC, SUBNETS)):
        self.nodes, self.pods, self.enis, self.ip = [], [], [], {}
        self.cluster, self.vpc, self.subnets = net
        # Free IPs per zone; the incident's subnet c is nearly full.
        self.free_ips = free_ips or {zone: spec[3] for zone, spec in self.subnets.items()}

    def next_ip(self, zone):
        base = {"a": 0, "b": 32, "c": 64}[zone]
        n = self.ip.get(zone, 20) + 1
        self.ip[zone] = n
        return f"10.0.{base + n // 250}.{n % 250 + 2}"

    def node(self, name, zone, instance_type, instance_id=None, allocatable=None,
             legacy_labels=False, fargate=False, created="2026-11-20T06:12:44Z"):
        az = f"{REGION}{zone}"
        labels = {
            "kubernetes.io/arch": "amd64",
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            "topology.kubernetes.io/region": REGION,
        }
        if legacy_labels:
            labels["beta.kubernetes.io/instance-type"] = instance_type
            labels["failure-domain.beta.kubernetes.io/zone"] = az
        else:
            labels["node.kubernetes.io/instance-type"] = instance_type
            labels["topology.kubernetes.io/zone"] = az
            labels["eks.amazonaws.com/nodegroup"] = "general"
        if fargate:
            labels = {"eks.amazonaws.com/compute-type": "fargate",
                      "topology.kubernetes.io/zone": az, "kubernetes.io/hostname": name}
            provider = f"aws:///{az}/{hexid('f', name)[2:12]}-{hexid('f', name, 2)[2:]}/{name}"
        else:
            provider = f"aws:///{az}/{instance_id}"
        alloc = {"cpu": "3920m", "ephemeral-storage": "95491281146", "hugepages-1Gi": "0",
                 "hugepages-2Mi": "0", "memory": "14967404Ki", "pods": "58"}
        if allocatable is not None:
            alloc["vpc.amazonaws.com/pod-eni"] = str(allocatable)
        self.nodes.append({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {
                "annotations": {"alpha.kubernetes.io/provided-node-ip": self.next_ip(zone),
                                "node.alpha.kubernetes.io/ttl": "0",
                                "volumes.kubernetes.io/controller-managed-attach-detach": "true"},
                "creationTimestamp": created, "labels": labels, "name": name,
                "resourceVersion": str(4180000 + len(self.nodes)), "uid": uid("node", name),
            },
            "spec": {"providerID": provider},
            "status": {
                "addresses": [{"address": self.next_ip(zone), "type": "InternalIP"},
                              {"address": name, "type": "Hostname"}],
                "allocatable": alloc,
                "capacity": dict(alloc, cpu="4", memory="15896108Ki"),
                "conditions": [{"lastHeartbeatTime": "2026-11-24T09:40:12Z",
                                "lastTransitionTime": created, "message": "kubelet is posting ready status",
                                "reason": "KubeletReady", "status": "True", "type": "Ready"}],
                "nodeInfo": {"architecture": "amd64", "containerRuntimeVersion": "containerd://1.7.27",
                             "kernelVersion": "6.1.141-155.222.amzn2023.x86_64",
                             "kubeProxyVersion": "v1.33.5-eks-113cf36", "kubeletVersion": "v1.33.5-eks-113cf36",
                             "operatingSystem": "linux", "osImage": "Amazon Linux 2023.8.20251020"},
            },
        })

    def trunk(self, node_zone, instance_id):
        eni_id = hexid("eni", "trunk", instance_id)
        self.enis.append(self.eni_json(eni_id, node_zone, "trunk", "aws-k8s-trunk-eni", "in-use",
                                       self.next_ip(node_zone), tags={}, attachment=instance_id))
        return eni_id

    def branch(self, zone, trunk_id, vlan, ip, status="in-use", instance_tag=None, itype="branch"):
        eni_id = hexid("eni", "branch", trunk_id, vlan, ip)
        tags = {"vpcresources.k8s.aws/trunk-eni-id": trunk_id, "vpcresources.k8s.aws/vlan-id": str(vlan)}
        if instance_tag:
            tags["node.k8s.amazonaws.com/instance_id"] = instance_tag
        self.enis.append(self.eni_json(eni_id, zone, itype, "aws-k8s-branch-eni", status, ip, tags))
        return eni_id

    def eni_json(self, eni_id, zone, itype, description, status, ip, tags, attachment=None):
        subnet_id = self.subnets[zone][0]
        dns = f"ip-{ip.replace('.', '-')}.{REGION}.compute.internal"
        tag_set = [{"Key": "eks:eni:owner", "Value": "eks-vpc-resource-controller"},
                   {"Key": f"kubernetes.io/cluster/{self.cluster}", "Value": "owned"}]
        tag_set += [{"Key": k, "Value": v} for k, v in tags.items()]
        eni = {
            "AvailabilityZone": f"{REGION}{zone}",
            "Description": description,
            "Groups": [{"GroupName": "eks-cluster-sg-prod-eu", "GroupId": "sg-0e1d2c3b4a5968778"}],
            "InterfaceType": itype,
            "Ipv6Addresses": [],
            "MacAddress": "02:" + ":".join(eni_id[4 + 2 * i:6 + 2 * i] for i in range(5)),
            "NetworkInterfaceId": eni_id,
            "OwnerId": ACCOUNT,
            "PrivateDnsName": dns,
            "PrivateIpAddress": ip,
            "PrivateIpAddresses": [{"Primary": True, "PrivateDnsName": dns, "PrivateIpAddress": ip}],
            "RequesterId": "014851456324",
            "RequesterManaged": False,
            "SourceDestCheck": True,
            "Status": status,
            "SubnetId": subnet_id,
            "TagSet": tag_set,
            "VpcId": self.vpc,
        }
        if attachment:
            eni["Attachment"] = {
                "AttachTime": "2026-11-20T06:13:30+00:00",
                "AttachmentId": hexid("eni-attach", eni_id),
                "DeleteOnTermination": True, "DeviceIndex": 2, "NetworkCardIndex": 0,
                "InstanceId": attachment, "InstanceOwnerId": ACCOUNT, "Status": "attached"}
        return eni

    def pod(self, namespace, name, node, zone=None, phase="Running", sgp=True, eni=None, ip=None,
            owner=None, created="2026-11-24T08:00:00Z", annotation_style="current", vlan=1,
            finished=None, image="registry.example.com/shop/app:1.42.0"):
        annotations = {}
        if eni:
            entry = {"eniId": eni, "ifAddress": "02:" + ":".join(eni[4 + 2 * i:6 + 2 * i] for i in range(5)),
                     "privateIp": ip, "ipv6Addr": "", "vlanId": vlan, "subnetCidr": self.subnets[zone][1],
                     "subnetV6Cidr": "", "associationID": hexid("trunk-assoc", eni)}
            if annotation_style == "old":  # controllers before v1.1: fewer fields
                entry = {k: entry[k] for k in ("eniId", "ifAddress", "privateIp", "vlanId", "subnetCidr")}
            elif annotation_style == "vlanID":  # some writers spell it so
                entry = {k: entry[k] for k in ("eniId", "ifAddress", "privateIp", "subnetCidr")}
                entry["vlanID"] = vlan
            annotations["vpc.amazonaws.com/pod-eni"] = json.dumps([entry], separators=(",", ":"))
        resources = {"limits": {"memory": "512Mi"}, "requests": {"cpu": "250m", "memory": "512Mi"}}
        if sgp:
            resources["limits"]["vpc.amazonaws.com/pod-eni"] = "1"
            resources["requests"]["vpc.amazonaws.com/pod-eni"] = "1"
        meta = {"annotations": annotations, "creationTimestamp": created, "name": name,
                "namespace": namespace, "resourceVersion": str(4200000 + len(self.pods)),
                "uid": uid("pod", namespace, name), "labels": {"app": name.rsplit("-", 2)[0]}}
        if owner:
            kind, owner_name = owner
            meta["ownerReferences"] = [{"apiVersion": "batch/v1" if kind == "Job" else "apps/v1",
                                        "blockOwnerDeletion": True, "controller": True, "kind": kind,
                                        "name": owner_name, "uid": uid(kind, owner_name)}]
        scheduled = created.replace(":00Z", ":01Z")
        conditions = [{"lastProbeTime": None, "lastTransitionTime": scheduled, "status": "True",
                       "type": "PodScheduled"}]
        status = {"phase": phase, "conditions": conditions, "qosClass": "Burstable"}
        if phase in ("Running", "Succeeded"):
            status.update({"hostIP": self.next_ip(zone) if zone else None, "podIP": ip,
                           "podIPs": [{"ip": ip}] if ip else [], "startTime": scheduled})
            state = ({"running": {"startedAt": scheduled}} if phase == "Running" else
                     {"terminated": {"containerID": "containerd://" + hexid("c", name)[2:], "exitCode": 0,
                                     "finishedAt": finished, "reason": "Completed", "startedAt": scheduled}})
            status["containerStatuses"] = [{"containerID": "containerd://" + hexid("c", name)[2:],
                                            "image": image, "imageID": image, "lastState": {},
                                            "name": "app", "ready": phase == "Running",
                                            "restartCount": 0, "started": phase == "Running", "state": state}]
            conditions.append({"lastProbeTime": None, "lastTransitionTime": finished or scheduled,
                               "status": "True" if phase == "Running" else "False", "type": "Ready"})
        elif phase == "Pending":
            status["containerStatuses"] = [{"image": image, "imageID": "", "lastState": {}, "name": "app",
                                            "ready": False, "restartCount": 0, "started": False,
                                            "state": {"waiting": {"reason": "ContainerCreating"}}}]
            status["hostIP"] = self.next_ip(zone)
            status["startTime"] = scheduled
        self.pods.append({
            "apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"containers": [{"image": image, "imagePullPolicy": "IfNotPresent", "name": "app",
                                     "resources": resources, "terminationMessagePath": "/dev/termination-log",
                                     "terminationMessagePolicy": "File"}],
                     "dnsPolicy": "ClusterFirst", "enableServiceLinks": True, "nodeName": node,
                     "preemptionPolicy": "PreemptLowerPriority", "priority": 0,
                     "restartPolicy": "Never" if owner and owner[0] == "Job" else "Always",
                     "schedulerName": "default-scheduler", "securityContext": {},
                     "serviceAccountName": "default", "terminationGracePeriodSeconds": 30,
                     "tolerations": [{"effect": "NoExecute", "key": "node.kubernetes.io/not-ready",
                                      "operator": "Exists", "tolerationSeconds": 300}]},
            "status": status,
        })

    def failed(self, reason, message, conditions, container_state, last_state=None, restarts=0):
        """Turns the last pod into a Failed one as the kubelet leaves it: `reason` and
        `message`, its conditions (each keeps the time its status last changed), and the
        container's final state (the status manager's ContainerStatusUnknown, without any
        time, for a container it could not find)."""
        pod = self.pods[-1]
        status = pod["status"]
        status.update({"phase": "Failed", "reason": reason, "message": message})
        status["conditions"] = [c for c in status["conditions"] if c["type"] == "PodScheduled"] + [
            {"lastProbeTime": None, "lastTransitionTime": at, "status": state, "type": kind,
             **({"reason": why} if why else {})}
            for kind, state, at, why in conditions]
        container = status["containerStatuses"][0]
        container.update({"ready": False, "started": False, "restartCount": restarts,
                          "state": container_state, "lastState": last_state or {}})
        status.pop("podIP", None)
        status.pop("podIPs", None)

    def sgp_pod(self, trunk, zone, vlan, namespace, name, node, **kw):
        ip = self.next_ip(zone)
        eni = self.branch(zone, trunk, vlan, ip)
        self.pod(namespace, name, node, zone, eni=eni, ip=ip, vlan=vlan, **kw)
        return eni

    def system_pods(self, node, zone):
        suffix = node.split(".")[0][-5:].replace("-", "")
        self.pod("kube-system", f"aws-node-{suffix}", node, zone, sgp=False, ip=self.next_ip(zone),
                 owner=("DaemonSet", "aws-node"), image="602401143452.dkr.ecr.eu-west-1.amazonaws.com/amazon-k8s-cni:v1.20.4")
        self.pod("kube-system", f"kube-proxy-{suffix}", node, zone, sgp=False, ip=self.next_ip(zone),
                 owner=("DaemonSet", "kube-proxy"), image="602401143452.dkr.ecr.eu-west-1.amazonaws.com/eks/kube-proxy:v1.33.5")

    def write(self, directory):
        out = os.path.join(HERE, directory)
        os.makedirs(out, exist_ok=True)
        kube = lambda items: {"apiVersion": "v1", "items": items, "kind": "List",
                              "metadata": {"resourceVersion": ""}}
        subnets = [{
            "AvailabilityZone": f"{REGION}{zone}", "AvailabilityZoneId": az_id,
            "AvailableIpAddressCount": free, "CidrBlock": cidr, "DefaultForAz": False,
            "MapPublicIpOnLaunch": False, "State": "available", "SubnetId": sid, "VpcId": self.vpc,
            "OwnerId": ACCOUNT, "AssignIpv6AddressOnCreation": False, "Ipv6CidrBlockAssociationSet": [],
            "Tags": [{"Key": "Name", "Value": f"{self.cluster}-private-{REGION}{zone}"},
                     {"Key": f"kubernetes.io/cluster/{self.cluster}", "Value": "shared"},
                     {"Key": "kubernetes.io/role/internal-elb", "Value": "1"}],
            "SubnetArn": f"arn:aws:ec2:{REGION}:{ACCOUNT}:subnet/{sid}",
            "EnableDns64": False, "Ipv6Native": False,
            "PrivateDnsNameOptionsOnLaunch": {"HostnameType": "ip-name", "EnableResourceNameDnsARecord": False,
                                              "EnableResourceNameDnsAAAARecord": False},
        } for zone, (sid, cidr, az_id, _) in self.subnets.items() for free in [self.free_ips[zone]]]
        files = {"nodes.json": kube(self.nodes), "pods.json": kube(self.pods),
                 "network-interfaces.json": {"NetworkInterfaces": self.enis},
                 "subnets.json": {"Subnets": subnets},
                 "metadata.json": {"capturedAt": CAPTURED_AT, "writtenBy": "examples/make-examples.py"}}
        for name, doc in files.items():
            with open(os.path.join(out, name), "w") as f:
                json.dump(doc, f, indent=4)
                f.write("\n")


def incident():
    w = World()
    full = "ip-10-0-1-10.eu-west-1.compute.internal"
    w.node(full, "a", "m5a.xlarge", "i-0a1b2c3d4e5f60001", allocatable=18)
    trunk = w.trunk("a", "i-0a1b2c3d4e5f60001")
    w.system_pods(full, "a")
    vlan = 1
    for i, suffix in enumerate(["4kx9z", "7hq2m", "b8w3n", "c2p5r", "m9d4s", "x3v7t"]):
        w.sgp_pod(trunk, "a", vlan, "shop", f"checkout-api-7d9f8b6c5d-{suffix}", full,
                  owner=("ReplicaSet", "checkout-api-7d9f8b6c5d"),
                  annotation_style="old" if i < 2 else "current")
        vlan += 1
    for suffix in ["2fkq8", "8dnw4", "j5tz1", "r7xb6"]:
        w.sgp_pod(trunk, "a", vlan, "payments", f"payments-worker-5c8d7f9b4-{suffix}", full,
                  owner=("ReplicaSet", "payments-worker-5c8d7f9b4"), annotation_style="vlanID")
        vlan += 1
    for i in range(3):
        w.sgp_pod(trunk, "a", vlan, "shop", f"orders-db-proxy-{i}", full,
                  owner=("StatefulSet", "orders-db-proxy"))
        vlan += 1
    # Three migration Jobs run before each deploy; their pods completed hours ago and
    # still hold their branch ENIs (the controller of the time freed them only when the
    # pod was deleted; today's would have freed them at completion).
    for job, start in [("db-migrate-28871040", "06:00"), ("db-migrate-28871100", "07:00"),
                       ("db-migrate-28871160", "08:00")]:
        w.sgp_pod(trunk, "a", vlan, "shop", f"{job}-{hexid('p', job)[-5:]}", full, phase="Succeeded",
                  owner=("Job", job), created=f"2026-11-24T{start}:00Z",
                  finished=f"2026-11-24T{start[:3]}04:31Z", image="registry.example.com/shop/migrate:1.42.0")
        vlan += 1
    # A Job pod that completed 35 s before the capture: its ENI is in the cool-down.
    w.sgp_pod(trunk, "a", vlan, "shop", "cache-warmup-28871224-k2j7d", full, phase="Succeeded",
              owner=("Job", "cache-warmup-28871224"), created="2026-11-24T09:44:00Z",
              finished="2026-11-24T09:44:25Z", image="registry.example.com/shop/warmup:1.42.0")
    vlan += 1
    # An ENI in the controller's cool-down queue: its pod is gone already.
    w.branch("a", trunk, vlan, w.next_ip("a"))
    vlan += 1
    # The symptom: scheduled (kubectl says 14 of 18), stuck in ContainerCreating.
    w.pod("shop", "checkout-api-7d9f8b6c5d-q8r2t", full, "a", phase="Pending",
          owner=("ReplicaSet", "checkout-api-7d9f8b6c5d"), created="2026-11-24T09:29:00Z")
    # A report Job's pod that waited here for its ENI from 09:20 until its
    # activeDeadlineSeconds (1200) ran out: killed before its container ran, never
    # annotated, so it holds nothing; Ready has been False since it was scheduled.
    w.pod("shop", "report-export-28871220-zq4k8", full, "a", phase="Pending",
          owner=("Job", "report-export-28871220"), created="2026-11-24T09:20:00Z",
          image="registry.example.com/shop/report:1.42.0")
    w.failed("DeadlineExceeded", "Pod was active on the node longer than the specified deadline",
             [("Initialized", "True", "2026-11-24T09:20:01Z", None),
              ("Ready", "False", "2026-11-24T09:20:01Z", "PodFailed"),
              ("ContainersReady", "False", "2026-11-24T09:20:01Z", "PodFailed"),
              ("PodReadyToStartContainers", "False", "2026-11-24T09:20:01Z", None)],
             {"terminated": {"exitCode": 137, "reason": "ContainerStatusUnknown",
                             "message": "The container could not be located when the pod was terminated"}})

    healthy = "ip-10-0-2-20.eu-west-1.compute.internal"
    w.node(healthy, "b", "m5.large", "i-0a1b2c3d4e5f60002", allocatable=9)
    trunk2 = w.trunk("b", "i-0a1b2c3d4e5f60002")
    w.system_pods(healthy, "b")
    for vlan, suffix in enumerate(["a1b2c", "d3e4f", "g5h6i", "k7l8m"], start=1):
        w.sgp_pod(trunk2, "b", vlan, "catalog", f"catalog-search-6b7c8d9f5-{suffix}", healthy,
                  owner=("ReplicaSet", "catalog-search-6b7c8d9f5"))
    # Evicted under memory pressure 20 s before the capture, after failing readiness
    # since 09:31:12; its container was removed, so the kubelet recorded no finish time.
    # The controller released the ENI when it saw the pod fail: it is in the cool-down.
    w.sgp_pod(trunk2, "b", 5, "catalog", "catalog-search-6b7c8d9f5-n9o0p", healthy,
              owner=("ReplicaSet", "catalog-search-6b7c8d9f5"), created="2026-11-24T08:10:00Z")
    w.failed("Evicted", "The node was low on resource: memory. Threshold quantity: 100Mi, available: 92316Ki. "
             "Container app was using 3892716Ki, request is 512Mi, has larger consumption of memory.",
             [("Initialized", "True", "2026-11-24T08:10:01Z", None),
              ("Ready", "False", "2026-11-24T09:31:12Z", "PodFailed"),
              ("ContainersReady", "False", "2026-11-24T09:31:12Z", "PodFailed"),
              ("PodReadyToStartContainers", "False", "2026-11-24T09:44:41Z", None),
              ("DisruptionTarget", "True", "2026-11-24T09:44:38Z", "TerminationByKubelet")],
             {"terminated": {"exitCode": 137, "reason": "ContainerStatusUnknown",
                             "message": "The container could not be located when the pod was terminated"}},
             restarts=2)
    # A branch ENI whose pod was deleted and which the controller already detached:
    # it still holds an IP in subnet b but no slot on the node.
    w.branch("b", trunk2, 9, w.next_ip("b"), status="available", itype="interface")

    legacy = "ip-10-0-3-30.eu-west-1.compute.internal"
    w.node(legacy, "c", "c5.xlarge", "i-0a1b2c3d4e5f60003", legacy_labels=True,
           created="2025-06-02T11:20:05Z")
    trunk3 = w.trunk("c", "i-0a1b2c3d4e5f60003")
    w.system_pods(legacy, "c")
    for vlan, suffix in enumerate(["p1q2r", "s3t4u"], start=1):
        w.sgp_pod(trunk3, "c", vlan, "reporting", f"report-builder-84f6d5c7b-{suffix}", legacy,
                  owner=("ReplicaSet", "report-builder-84f6d5c7b"))
    # Orphaned: named by no pod (newer controllers also tag the instance).
    w.branch("c", trunk3, 3, w.next_ip("c"), instance_tag="i-0a1b2c3d4e5f60003")

    fargate = "fargate-ip-10-0-40-7.eu-west-1.compute.internal"
    w.node(fargate, "b", "fargate", fargate=True)
    w.pod("batch", "nightly-export-29181-7xk2p", fargate, "b", sgp=False, ip="10.0.40.7",
          owner=("Job", "nightly-export-29181"))

    plain = "ip-10-0-5-50.eu-west-1.compute.internal"
    w.node(plain, "a", "t3.large", "i-0a1b2c3d4e5f60005")
    w.system_pods(plain, "a")
    w.write("incident")


def healthy():
    w = World(free_ips={"a": 7893, "b": 8012, "c": 7950},
              net=network("prod-us", "vpc-0b4d6f8a0c2e3f5a7", "0d44"))
    for n, (zone, itype, limit) in enumerate([("a", "m5.xlarge", 18), ("b", "m5.large", 9)], start=1):
        name = f"ip-10-0-{n}-1{n}.eu-west-1.compute.internal"
        instance = f"i-0b1c2d3e4f5a6000{n}"
        w.node(name, zone, itype, instance, allocatable=limit)
        trunk = w.trunk(zone, instance)
        w.system_pods(name, zone)
        for vlan in range(1, 4):
            w.sgp_pod(trunk, zone, vlan, "web", f"storefront-5d6c7b8a9-{n}{vlan}abc", name,
                      owner=("ReplicaSet", "storefront-5d6c7b8a9"))
    w.write("healthy")


def waiting():
    w = World(free_ips={"a": 6120, "b": 0, "c": 7311},
              net=network("batch-eu", "vpc-0c5e7a9b1d3f4a6b8", "0e55"))
    pods = {}
    # Its VPC reuses prod-us's CIDRs, so its node in zone a has the same name as
    # prod-us's there, as EKS names nodes after their private IP: a fleet view that
    # tells nodes apart by name alone merges the two.
    for n, zone in enumerate(["a", "b"], start=1):
        name = ("ip-10-0-1-11.eu-west-1.compute.internal" if zone == "a"
                else f"ip-10-0-{n}-4{n}.eu-west-1.compute.internal")
        instance = f"i-0c2d3e4f5a6b7000{n}"
        w.node(name, zone, "m5.xlarge", instance, allocatable=18)
        trunk = w.trunk(zone, instance)
        w.system_pods(name, zone)
        for vlan in range(1, 6):
            w.sgp_pod(trunk, zone, vlan, "ingest", f"ingest-worker-6f7a8b9c0-{n}{vlan}xyz", name,
                      owner=("ReplicaSet", "ingest-worker-6f7a8b9c0"))
        pods[zone] = name
    # Scheduled on the node in zone b 20 and 14 minutes before the capture: the node has
    # 13 slots left, but subnet b has no address for a new branch ENI.
    for suffix, created in [("w8q2z", "2026-11-24T09:25:00Z"), ("t4n6k", "2026-11-24T09:31:00Z")]:
        w.pod("ingest", f"ingest-worker-6f7a8b9c0-{suffix}", pods["b"], "b", phase="Pending",
              owner=("ReplicaSet", "ingest-worker-6f7a8b9c0"), created=created)
    w.write("waiting")


if __name__ == "__main__":
    incident()
    healthy()
    waiting()
