#!/usr/bin/env python3
"""Builds the Grafana dashboards (dashboards/*.json) and the Kubernetes assets derived
from the repo's sources of truth (deploy/kubernetes/dashboards/*.yaml ConfigMaps,
deploy/kubernetes/prometheusrule.yaml from alerts/, and their copies inside the Helm
chart, deploy/helm/pod-eni-exporter/files/). Run it after editing a panel or a rule:

    python3 dashboards/build.py            # write
    python3 dashboards/build.py --check    # fail if anything is out of date (tests run this)
    python3 dashboards/build.py --multi-cluster   # show the cluster variable

Every panel has a description and a unit; every query filters on cluster=~"$cluster"
and aggregates by cluster before anything else (max by (cluster, node), on (cluster,
node)), so that two clusters' same-named nodes or subnets never merge when the
dashboards read a central store (docs/fleet.md); rates use $__rate_interval. The
cluster variable of the per-cluster dashboards is hidden by default (single cluster: it
matches everything, including series without a cluster label); the Fleet dashboard
shows it.
"""
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
C = 'cluster=~"$cluster"'
MULTI_CLUSTER = "--multi-cluster" in sys.argv


def ds():
    return {"type": "prometheus", "uid": "${datasource}"}


def target(expr, legend="", ref="A", instant=False, fmt=None):
    t = {"datasource": ds(), "expr": expr, "legendFormat": legend, "refId": ref}
    if instant:
        t["instant"] = True
        t["range"] = False
    if fmt:
        t["format"] = fmt
    return t


class Layout:
    def __init__(self):
        self.next_id = 1
        self.x = 0
        self.y = 0
        self.row_height = 0

    def place(self, w, h):
        if self.x + w > 24:
            self.x = 0
            self.y += self.row_height
            self.row_height = 0
        pos = {"h": h, "w": w, "x": self.x, "y": self.y}
        self.x += w
        self.row_height = max(self.row_height, h)
        panel_id = self.next_id
        self.next_id += 1
        return panel_id, pos


def panel(layout, kind, title, description, targets, unit, w=6, h=6, **extra):
    panel_id, pos = layout.place(w, h)
    p = {
        "id": panel_id,
        "type": kind,
        "title": title,
        "description": description,
        "datasource": ds(),
        "gridPos": pos,
        "targets": targets,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {},
    }
    p.update(extra)
    return p


def stat(layout, title, description, expr, unit="none", thresholds=None):
    p = panel(layout, "stat", title, description, [target(expr, instant=True)], unit, w=4, h=4)
    p["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    "colorMode": "value", "graphMode": "area", "textMode": "auto"}
    if thresholds:
        p["fieldConfig"]["defaults"]["thresholds"] = {"mode": "absolute", "steps": thresholds}
    return p


def timeseries(layout, title, description, targets, unit="none", w=12, h=8, stack=False):
    p = panel(layout, "timeseries", title, description, targets, unit, w=w, h=h)
    custom = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never"}
    if stack:
        custom.update({"stacking": {"mode": "normal", "group": "A"}, "fillOpacity": 60})
    p["fieldConfig"]["defaults"]["custom"] = custom
    p["options"] = {"legend": {"displayMode": "table", "placement": "bottom", "calcs": ["lastNotNull"]},
                    "tooltip": {"mode": "multi", "sort": "desc"}}
    return p


def table(layout, title, description, targets, unit="none", w=24, h=8, rename=None, hide=("Time",), sort=None):
    p = panel(layout, "table", title, description, targets, unit, w=w, h=h)
    transformations = [{"id": "merge", "options": {}}] if len(targets) > 1 else []
    excluded = {name: True for name in hide}
    transformations.append({"id": "organize", "options": {"excludeByName": excluded,
                                                          "renameByName": rename or {}}})
    p["transformations"] = transformations
    p["options"] = {"showHeader": True, "cellHeight": "sm"}
    if sort:
        p["options"]["sortBy"] = sort
    return p


def variables(extra=(), fleet=False):
    cluster = {
        "name": "cluster", "label": "Cluster", "type": "query", "datasource": ds(),
        "query": {"query": "label_values(podeni_build_info, cluster)", "refId": "cluster"},
        "definition": "label_values(podeni_build_info, cluster)",
        "includeAll": True, "allValue": ".*", "multi": fleet, "refresh": 2, "sort": 1,
        "hide": 0 if MULTI_CLUSTER or fleet else 2,
        "current": {"selected": True, "text": "All", "value": "$__all"},
    }
    datasource = {"name": "datasource", "label": "Data source", "type": "datasource",
                  "query": "prometheus", "refresh": 1, "hide": 0,
                  "current": {"selected": False, "text": "default", "value": "default"}}
    return {"list": [datasource, cluster, *extra]}


def dashboard(uid, title, description, panels, templating, links=()):
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["pod-eni-exporter", "eks", "security-groups-for-pods"],
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "graphTooltip": 1,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "1m",
        "timezone": "",
        "templating": templating,
        "annotations": {"list": []},
        "links": list(links),
        "panels": panels,
    }


def dashboard_links():
    return [{"type": "dashboards", "tags": ["pod-eni-exporter"], "title": "pod-eni-exporter",
             "asDropdown": True, "includeVars": True, "keepTime": True}]


def overview():
    l = Layout()
    node_max = lambda metric, sel="": f'max by (cluster, node) ({metric}{{{C}{sel}}})'
    remaining = f'sum({node_max("podeni_node_branch_eni_remaining")})'
    # Slots left on schedulable nodes that take security-group pods, summed by a
    # node_info label.
    headroom_by = lambda label: (
        f'sum by ({label}) ({node_max("podeni_node_branch_eni_remaining")} * on (cluster, node) group_left ({label}) '
        f'max by (cluster, node, {label}) (podeni_node_info{{{C},unschedulable="false",capacity_source="allocatable"}}))')
    panels = [
        stat(l, "Branch ENI capacity", "Branch ENIs all security-group nodes can hold (sum of vpc.amazonaws.com/pod-eni, else the instance type table).",
             f'sum({node_max("podeni_node_branch_eni_capacity")})'),
        stat(l, "Attached (EC2)", "Branch ENIs associated with a trunk in EC2, whatever holds them: what really uses the capacity.",
             f'sum(max by (cluster, node, state) (podeni_node_branch_enis{{{C}}}))'),
        stat(l, "Requested (scheduler)", "vpc.amazonaws.com/pod-eni requested by pods that are not Succeeded/Failed: what the scheduler and kubectl describe node count.",
             f'sum({node_max("podeni_node_branch_eni_requests")})'),
        stat(l, "Remaining", "Security-group pods the cluster can still start: sum over nodes of capacity - attached - waiting.",
             f'sum({node_max("podeni_node_branch_eni_remaining")})'),
        stat(l, "Nodes full", "Nodes with no branch ENI left. Pods scheduled there wait in ContainerCreating.",
             f'count({node_max("podeni_node_branch_eni_remaining")} == 0) or vector(0)',
             thresholds=[{"color": "green", "value": None}, {"color": "red", "value": 1}]),
        stat(l, "Pods waiting", "Security-group pods scheduled on a node that have no branch ENI yet.",
             f'sum({node_max("podeni_node_pods_waiting_for_branch_eni")})',
             thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 1}]),
        stat(l, "Pods unschedulable", "Security-group pods no node can take: the scheduler finds no free vpc.amazonaws.com/pod-eni slot. The cluster, not one node, is out.",
             f'sum(max by (cluster, namespace) (podeni_unschedulable_pods{{{C}}})) or vector(0)',
             thresholds=[{"color": "green", "value": None}, {"color": "red", "value": 1}]),
        table(l, "Nodes closest to exhaustion",
              "The 20 nodes with the fewest branch ENIs left. Requested is the scheduler's view; the states sum to what EC2 has attached.",
              [target(f'bottomk(20, {node_max("podeni_node_branch_eni_remaining")})', ref="remaining", instant=True, fmt="table"),
               target(node_max("podeni_node_branch_eni_capacity"), ref="capacity", instant=True, fmt="table"),
               target(node_max("podeni_node_branch_eni_requests"), ref="requested", instant=True, fmt="table"),
               target(node_max("podeni_node_branch_enis", ',state="in_use"'), ref="in_use", instant=True, fmt="table"),
               target(node_max("podeni_node_branch_enis", ',state="completed_pod"'), ref="completed_pod", instant=True, fmt="table"),
               target(node_max("podeni_node_branch_enis", ',state="orphaned"'), ref="orphaned", instant=True, fmt="table"),
               target(node_max("podeni_node_branch_enis", ',state="leaked"'), ref="leaked", instant=True, fmt="table"),
               target(node_max("podeni_node_pods_waiting_for_branch_eni"), ref="waiting", instant=True, fmt="table")],
              w=24, h=9,
              rename={"Value #remaining": "Remaining", "Value #capacity": "Capacity", "Value #requested": "Requested",
                      "Value #in_use": "In use", "Value #completed_pod": "Completed pods", "Value #orphaned": "Orphaned",
                      "Value #leaked": "Leaked", "Value #waiting": "Waiting", "node": "Node", "cluster": "Cluster"}),
        timeseries(l, "Scheduler view vs EC2 truth",
                   "Requested (what kubectl describe node counts) against attached (what EC2 has): the gap is ENIs held by completed pods, in cool-down or leaked.",
                   [target(f'sum({node_max("podeni_node_branch_eni_requests")})', "requested (scheduler)", "A"),
                    target(f'sum(max by (cluster, node, state) (podeni_node_branch_enis{{{C}}}))', "attached (EC2)", "B"),
                    target(f'sum({node_max("podeni_node_branch_eni_capacity")})', "capacity", "C")]),
        timeseries(l, "Attached branch ENIs by state",
                   "Every attached branch ENI is in exactly one state: in_use (a running pod), completed_pod, orphaned (cool-down) or leaked.",
                   [target(f'sum by (state) (max by (cluster, node, state) (podeni_node_branch_enis{{{C}}}))', "{{state}}")], stack=True),
        table(l, "Culprits: branch ENIs held without a running pod",
              "One row per ENI in state completed_pod, orphaned or leaked, with the pod and its owner. completed_pod and orphaned are being released; leaked ones the controller has missed or forgotten: pod-eni-exporter audit says which, and prints the aws ec2 delete-network-interface commands for the forgotten.",
              [target(f'max by (cluster, eni_id, node, state, namespace, pod, owner_kind, owner_name) (podeni_branch_eni_holder_info{{{C}}})',
                      instant=True, fmt="table")],
              w=24, h=8, hide=("Time", "Value"),
              rename={"eni_id": "ENI", "node": "Node", "state": "State", "namespace": "Namespace", "pod": "Pod",
                      "owner_kind": "Owner kind", "owner_name": "Owner", "cluster": "Cluster"}),
        table(l, "Pods waiting for a branch ENI",
              "Security-group pods that are scheduled but have no branch ENI, with how long they have waited.",
              [target(f'time() - max by (cluster, namespace, pod, node) (podeni_pod_waiting_for_branch_eni_since_timestamp_seconds{{{C}}})',
                      instant=True, fmt="table")],
              unit="s", w=12, h=8, rename={"Value": "Waiting for", "namespace": "Namespace", "pod": "Pod", "node": "Node", "cluster": "Cluster"}),
        table(l, "Pods unschedulable for want of a branch ENI slot",
              "Per namespace: security-group pods the scheduler cannot place because no node it may use has a free vpc.amazonaws.com/pod-eni slot, and how long the oldest has waited. Headroom by zone and node group (below) says where to add nodes.",
              [target(f'max by (cluster, namespace) (podeni_unschedulable_pods{{{C}}})', ref="pods", instant=True, fmt="table"),
               target(f'time() - min by (cluster, namespace) (podeni_unschedulable_pods_since_timestamp_seconds{{{C}}})', ref="waited", instant=True, fmt="table")],
              w=12, h=8, hide=("Time",),
              rename={"Value #pods": "Pods", "Value #waited": "Oldest waited (s)", "namespace": "Namespace", "cluster": "Cluster"}),
        table(l, "Subnet free IPs",
              "Free IPv4 addresses per subnet (each branch ENI needs one), with name and zone.",
              [target(f'max by (cluster, subnet_id) (podeni_subnet_available_ip_addresses{{{C}}}) * on (cluster, subnet_id) group_left (name, availability_zone) max by (cluster, subnet_id, name, availability_zone) (podeni_subnet_info{{{C}}})',
                      instant=True, fmt="table")],
              w=12, h=8, rename={"Value": "Free IPs", "subnet_id": "Subnet", "name": "Name", "availability_zone": "Zone", "cluster": "Cluster"}),
        table(l, "Headroom by zone",
              "Security-group pods each zone can still start: branch ENI slots left on its schedulable nodes that advertise vpc.amazonaws.com/pod-eni (cordoned nodes left out). audit --headroom lists the nodes.",
              [target(headroom_by("availability_zone"), instant=True, fmt="table")],
              w=8, h=8, rename={"Value": "Slots left", "availability_zone": "Zone"}),
        table(l, "Headroom by node group",
              "Slots left per EKS managed node group (else Karpenter node pool) on schedulable nodes; an empty group is nodes without either label.",
              [target(headroom_by("nodegroup"), instant=True, fmt="table")],
              w=8, h=8, rename={"Value": "Slots left", "nodegroup": "Node group"}),
        stat(l, "Time to exhaustion (6h trend)",
             "When the cluster's remaining slots reach 0 if the last 6 hours' trend (predict_linear) goes on. No value: slots are not declining.",
             f'{remaining} / -((predict_linear(({remaining})[6h:5m], 3600) - {remaining}) / 3600 < 0)',
             unit="s"),
        timeseries(l, "Exporter: sources up",
                   "1 when the last sync with the source succeeded. While a source is down the last figures are kept and no ENI turns leaked.",
                   [target(f'max by (cluster, source) (podeni_source_up{{{C}}})', "{{cluster}} {{source}}")], w=8),
        timeseries(l, "Exporter: EC2 requests and errors",
                   "EC2 API requests per second (retries included) and failures by error code. The Describe budget is shared with the VPC resource controller and the CNI.",
                   [target(f'sum by (cluster, operation) (rate(podeni_ec2_requests_total{{{C}}}[$__rate_interval]))', "{{cluster}} {{operation}}", "A"),
                    target(f'sum by (cluster, code) (rate(podeni_ec2_request_errors_total{{{C}}}[$__rate_interval]))', "{{cluster}} error {{code}}", "B")],
                   unit="reqps", w=8),
        timeseries(l, "Exporter: EC2 poll duration (p90)",
                   "90th percentile of the time a whole EC2 poll takes (all pages). Grows with ENIs / 1000 at the configured pace.",
                   [target(f'histogram_quantile(0.9, sum by (cluster, le) (rate(podeni_ec2_poll_duration_seconds_bucket{{{C}}}[$__rate_interval])))', "{{cluster}} p90")],
                   unit="s", w=8),
    ]
    return dashboard("pod-eni-overview", "Pod ENI / Overview",
                     "Branch ENIs for EKS security groups for pods: capacity, what EC2 has attached versus what the scheduler believes, who holds the slots.",
                     panels, variables(), dashboard_links())


def node_dashboard():
    l = Layout()
    sel = f'{C},node="$node"'
    node_var = {"name": "node", "label": "Node", "type": "query", "datasource": ds(),
                "query": {"query": f'label_values(podeni_node_info{{{C}}}, node)', "refId": "node"},
                "definition": f'label_values(podeni_node_info{{{C}}}, node)',
                "refresh": 2, "sort": 1, "includeAll": False, "multi": False, "hide": 0}
    panels = [
        stat(l, "Capacity", "Branch ENIs this node can hold.", f'max(podeni_node_branch_eni_capacity{{{sel}}})'),
        stat(l, "Requested", "What the scheduler counts: pod-eni requests of pods that are not Succeeded/Failed.", f'max(podeni_node_branch_eni_requests{{{sel}}})'),
        stat(l, "Attached", "Branch ENIs on this node's trunk in EC2.", f'sum(max by (cluster, state) (podeni_node_branch_enis{{{sel}}}))'),
        stat(l, "Remaining", "Security-group pods this node can still start.", f'max(podeni_node_branch_eni_remaining{{{sel}}})',
             thresholds=[{"color": "red", "value": None}, {"color": "green", "value": 1}]),
        stat(l, "Waiting", "Pods on this node waiting for a branch ENI.", f'max(podeni_node_pods_waiting_for_branch_eni{{{sel}}})'),
        stat(l, "Missing", "Running pods whose branch ENI no longer exists in EC2.", f'max(podeni_node_pods_missing_branch_eni{{{sel}}})'),
        timeseries(l, "Branch ENIs by state",
                   "Attached branch ENIs stacked by state, with capacity and the scheduler's requests as lines.",
                   [target(f'max by (cluster, state) (podeni_node_branch_enis{{{sel}}})', "{{state}}", "A")], stack=True, w=16, h=9),
        timeseries(l, "Capacity, requested, remaining",
                   "Capacity, the scheduler's view and what is really left over time.",
                   [target(f'max(podeni_node_branch_eni_capacity{{{sel}}})', "capacity", "A"),
                    target(f'max(podeni_node_branch_eni_requests{{{sel}}})', "requested", "B"),
                    target(f'max(podeni_node_branch_eni_remaining{{{sel}}})', "remaining", "C"),
                    target(f'max(podeni_node_pods_waiting_for_branch_eni{{{sel}}})', "waiting", "D")], w=8, h=9),
        table(l, "This node's culprits",
              "Branch ENIs on this node held without a running pod, and who holds them.",
              [target(f'max by (cluster, eni_id, state, namespace, pod, owner_kind, owner_name) (podeni_branch_eni_holder_info{{{sel}}})',
                      instant=True, fmt="table")],
              w=16, h=8, hide=("Time", "Value"),
              rename={"eni_id": "ENI", "state": "State", "namespace": "Namespace", "pod": "Pod",
                      "owner_kind": "Owner kind", "owner_name": "Owner"}),
        table(l, "Node identity",
              "Instance, type, zone, trunk ENI and where the capacity figure comes from.",
              [target(f'max by (cluster, node, instance_id, instance_type, availability_zone, trunk_eni_id, capacity_source) (podeni_node_info{{{sel}}})',
                      instant=True, fmt="table")],
              w=8, h=8, hide=("Time", "Value"),
              rename={"instance_id": "Instance", "instance_type": "Type", "availability_zone": "Zone",
                      "trunk_eni_id": "Trunk ENI", "capacity_source": "Capacity from", "node": "Node"}),
    ]
    return dashboard("pod-eni-node", "Pod ENI / Node",
                     "One node's branch ENIs over time: capacity, states, waiting pods and culprits.",
                     panels, variables([node_var]), dashboard_links())


def subnets_dashboard():
    l = Layout()
    free = f'max by (cluster, subnet_id) (podeni_subnet_available_ip_addresses{{{C}}})'
    info = f'max by (cluster, subnet_id, name, availability_zone, cidr_block) (podeni_subnet_info{{{C}}})'
    panels = [
        table(l, "Subnets",
              "Free and usable IPv4 addresses per subnet, with branch ENIs associated and detached (detached ones hold an IP but no node slot).",
              [target(f'{free} * on (cluster, subnet_id) group_left (name, availability_zone, cidr_block) {info}', ref="free", instant=True, fmt="table"),
               target(f'max by (cluster, subnet_id) (podeni_subnet_ip_addresses{{{C}}})', ref="usable", instant=True, fmt="table"),
               target(f'max by (cluster, subnet_id) (podeni_subnet_branch_enis{{{C}, state="associated"}})', ref="associated", instant=True, fmt="table"),
               target(f'max by (cluster, subnet_id) (podeni_subnet_branch_enis{{{C}, state="detached"}})', ref="detached", instant=True, fmt="table")],
              w=24, h=8,
              rename={"Value #free": "Free IPs", "Value #usable": "Usable IPs", "Value #associated": "Branch ENIs associated",
                      "Value #detached": "Branch ENIs detached", "subnet_id": "Subnet", "name": "Name",
                      "availability_zone": "Zone", "cidr_block": "CIDR", "cluster": "Cluster"}),
        timeseries(l, "Free IPs per subnet", "Free IPv4 addresses over time.",
                   [target(f'{free} * on (cluster, subnet_id) group_left (name) max by (cluster, subnet_id, name) (podeni_subnet_info{{{C}}})', "{{name}} {{subnet_id}}")]),
        timeseries(l, "Used IPs per subnet", "Usable minus free IPv4 addresses over time.",
                   [target(f'max by (cluster, subnet_id) (podeni_subnet_ip_addresses{{{C}}}) - {free}', "{{subnet_id}}")]),
        timeseries(l, "Branch ENIs per subnet", "Branch ENIs associated with a trunk and detached, per subnet.",
                   [target(f'max by (cluster, subnet_id, state) (podeni_subnet_branch_enis{{{C}}})', "{{subnet_id}} {{state}}")]),
        timeseries(l, "Runway", "Time until the subnet runs out of free IPs at the last hour's rate of consumption (no value while the subnet is not shrinking).",
                   [target(f'{free} / (-deriv({free}[1h:5m]) > 0)', "{{subnet_id}}")], unit="s"),
    ]
    return dashboard("pod-eni-subnets", "Pod ENI / Subnets",
                     "Subnets holding branch ENIs: free and used IPs, associated and detached ENIs, runway.",
                     panels, variables(), dashboard_links())


def fleet_dashboard():
    """Every cluster side by side, for a central store that the per-cluster scrapers
    remote-write to with a cluster label (docs/fleet.md)."""
    l = Layout()
    per_node = lambda metric, sel="": f'max by (cluster, node) ({metric}{{{C}{sel}}})'
    # Per cluster, 0 rather than no value where a cluster has none: the ranking shows
    # every cluster.
    clusters = f'group by (cluster) (podeni_build_info{{{C}}})'
    zero_for_all = f'(0 * {clusters})'
    full = f'count by (cluster) ({per_node("podeni_node_branch_eni_remaining")} == 0) or {zero_for_all}'
    leaked_per_node = per_node("podeni_node_branch_enis", ',state="leaked"')
    leaked = f'sum by (cluster) ({leaked_per_node}) or {zero_for_all}'
    waiting = f'sum by (cluster) ({per_node("podeni_node_pods_waiting_for_branch_eni")}) or {zero_for_all}'
    unschedulable = f'sum by (cluster) (max by (cluster, namespace) (podeni_unschedulable_pods{{{C}}})) or {zero_for_all}'
    remaining = f'sum by (cluster) ({per_node("podeni_node_branch_eni_remaining")})'
    capacity = f'sum by (cluster) ({per_node("podeni_node_branch_eni_capacity")})'
    red_from_1 = [{"color": "green", "value": None}, {"color": "red", "value": 1}]
    panels = [
        stat(l, "Clusters", "Clusters whose pod-eni-exporter series reach this store.",
             f'count({clusters})'),
        stat(l, "Clusters with a full node", "Clusters where at least one node has no branch ENI left.",
             f'count(({full}) > 0) or vector(0)', thresholds=red_from_1),
        stat(l, "Nodes full", "Nodes with no branch ENI left, over all clusters.",
             f'sum({full})', thresholds=red_from_1),
        stat(l, "Pods waiting", "Security-group pods waiting for a branch ENI on their node, over all clusters.",
             f'sum({waiting})', thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 1}]),
        stat(l, "Pods unschedulable", "Security-group pods no node can take, over all clusters.",
             f'sum({unschedulable})', thresholds=red_from_1),
        stat(l, "Leaked branch ENIs", "Branch ENIs held past the controller's release, over all clusters: pod-eni-exporter audit in that cluster says which.",
             f'sum({leaked})', thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 1}]),
        table(l, "Clusters ranked",
              "One row per cluster, worst first: nodes full, then pods waiting, unschedulable and leaked ENIs; headroom is the branch ENI slots left on its nodes.",
              [target(full, ref="full", instant=True, fmt="table"),
               target(waiting, ref="waiting", instant=True, fmt="table"),
               target(unschedulable, ref="unschedulable", instant=True, fmt="table"),
               target(leaked, ref="leaked", instant=True, fmt="table"),
               target(remaining, ref="remaining", instant=True, fmt="table"),
               target(f'{remaining} / {capacity}', ref="headroom", instant=True, fmt="table")],
              w=24, h=9,
              rename={"cluster": "Cluster", "Value #full": "Nodes full", "Value #waiting": "Pods waiting",
                      "Value #unschedulable": "Unschedulable", "Value #leaked": "Leaked ENIs",
                      "Value #remaining": "Slots left", "Value #headroom": "Headroom"},
              sort=[{"displayName": "Nodes full", "desc": True}]),
        timeseries(l, "Headroom per cluster",
                   "Share of each cluster's branch ENI slots still free: capacity minus attached minus waiting, over capacity.",
                   [target(f'{remaining} / {capacity}', "{{cluster}}")], unit="percentunit"),
        timeseries(l, "Pods waiting per cluster", "Security-group pods waiting for a branch ENI, per cluster.",
                   [target(f'sum by (cluster) ({per_node("podeni_node_pods_waiting_for_branch_eni")})', "{{cluster}}")]),
        table(l, "Subnets lowest on free IPs",
              "The 15 subnets with the fewest free IPv4 addresses over all clusters (a subnet two clusters share shows once per cluster).",
              [target(f'bottomk(15, max by (cluster, subnet_id) (podeni_subnet_available_ip_addresses{{{C}}})'
                      f' * on (cluster, subnet_id) group_left (name, availability_zone) '
                      f'max by (cluster, subnet_id, name, availability_zone) (podeni_subnet_info{{{C}}}))',
                      instant=True, fmt="table")],
              w=12, h=8, rename={"Value": "Free IPs", "cluster": "Cluster", "subnet_id": "Subnet", "name": "Name",
                                 "availability_zone": "Zone"}),
        timeseries(l, "Exporters: sources synced",
                   "Per cluster, 1 while its exporter's last sync with both the API server and EC2 succeeded; a gap is a cluster whose series stopped arriving.",
                   [target(f'min by (cluster) (podeni_source_up{{{C}}})', "{{cluster}}")], w=12),
    ]
    return dashboard("pod-eni-fleet", "Pod ENI / Fleet",
                     "Every cluster's branch ENIs side by side: clusters ranked by full nodes, waiting and unschedulable pods, leaked ENIs, headroom and the subnets lowest on IPs.",
                     panels, variables(fleet=True), dashboard_links())


def configmap(name, filename, content):
    body = "\n".join(("    " + line) if line else "" for line in content.rstrip("\n").split("\n"))
    return (f"# Generated by dashboards/build.py from dashboards/{filename}; do not edit.\n"
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
            f"  name: {name}\n  labels:\n    app.kubernetes.io/name: pod-eni-exporter\n    grafana_dashboard: \"1\"\n"
            f"data:\n  {filename}: |\n{body}\n")


def prometheus_rule(rules_text):
    groups = rules_text[rules_text.index("groups:"):]
    body = "\n".join(("  " + line) if line else "" for line in groups.rstrip("\n").split("\n"))
    return ("# Generated by dashboards/build.py from alerts/pod-eni-exporter.rules.yml; do not edit.\n"
            "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata:\n"
            "  name: pod-eni-exporter\n  labels:\n    app.kubernetes.io/name: pod-eni-exporter\n"
            f"spec:\n{body}\n")


def outputs():
    files = {}
    boards = [("overview", overview()), ("node", node_dashboard()), ("subnets", subnets_dashboard()),
              ("fleet", fleet_dashboard())]
    for name, board in boards:
        text = json.dumps(board, indent=2) + "\n"
        files[f"dashboards/{name}.json"] = text
        files[f"deploy/kubernetes/dashboards/{name}.yaml"] = configmap(f"pod-eni-dashboard-{name}", f"pod-eni-{name}.json", text)
        # Helm reads only files inside the chart: copies, checked like the rest. The
        # Fleet dashboard belongs to the central Grafana, not to each cluster's
        # (docs/fleet.md), so the chart leaves it out.
        if name != "fleet":
            files[f"deploy/helm/pod-eni-exporter/files/dashboards/pod-eni-{name}.json"] = text
    with open(os.path.join(ROOT, "alerts/pod-eni-exporter.rules.yml")) as f:
        rules = f.read()
    files["deploy/kubernetes/prometheusrule.yaml"] = prometheus_rule(rules)
    files["deploy/helm/pod-eni-exporter/files/pod-eni-exporter.rules.yml"] = rules
    return files


def main():
    stale = []
    for path, text in outputs().items():
        full = os.path.join(ROOT, path)
        current = open(full).read() if os.path.exists(full) else None
        if current == text:
            continue
        if "--check" in sys.argv:
            stale.append(path)
        else:
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "w") as f:
                f.write(text)
            print(f"wrote {path}")
    if stale:
        sys.exit("out of date (run python3 dashboards/build.py): " + ", ".join(stale))


if __name__ == "__main__":
    main()
