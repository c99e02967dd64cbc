//! Writes a large snapshot directory with objects shaped and sized like a real cluster's
//! (`kubectl get -o json` pods of 6–8 KB with managedFields, status and conditions;
//! nodes with images and conditions; AWS CLI ENIs and subnets), for measuring the real
//! binary on big inputs:
//!
//! ```text
//! cargo run --release --example synthetic_snapshot -- --nodes 3334 --pods-per-node 30 --out /tmp/100k
//! /usr/bin/time -v target/release/pod-eni-exporter audit --from /tmp/100k > /dev/null
//! ```
//!
//! Every node is an m5a.xlarge with a trunk; 18 % of pods use security groups for pods
//! and hold a branch ENI; one pod in 50 has completed. Deterministic: the same flags
//! write the same bytes.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use serde_json::{Value, json};

#[path = "../tests/support/synthetic.rs"]
mod synthetic;

use synthetic::{World, eni};

struct Flags {
    nodes: usize,
    pods_per_node: usize,
    subnets: usize,
    out: PathBuf,
}

fn parse_flags() -> Result<Flags, String> {
    let mut flags = Flags {
        nodes: 500,
        pods_per_node: 30,
        subnets: 30,
        out: PathBuf::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let number = || value.parse::<usize>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--nodes" => flags.nodes = number()?,
            "--pods-per-node" => flags.pods_per_node = number()?,
            "--subnets" => flags.subnets = number()?.max(1),
            "--out" => flags.out = PathBuf::from(&value),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if flags.out.as_os_str().is_empty() {
        return Err("--out DIR is required".into());
    }
    Ok(flags)
}

/// Writes `{"<key>": [items…]}` (or a kubectl List) one item at a time.
fn write_list(
    path: PathBuf,
    head: &str,
    tail: &str,
    items: impl Iterator<Item = Value>,
) -> std::io::Result<usize> {
    let mut out = BufWriter::new(File::create(path)?);
    out.write_all(head.as_bytes())?;
    let mut count = 0;
    for item in items {
        if count > 0 {
            out.write_all(b",\n")?;
        }
        serde_json::to_writer(&mut out, &item)?;
        count += 1;
    }
    out.write_all(tail.as_bytes())?;
    out.flush()?;
    Ok(count)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let flags = parse_flags().map_err(|e| {
        format!(
            "{e}\nusage: synthetic_snapshot --out DIR [--nodes N] [--pods-per-node P] [--subnets S]"
        )
    })?;
    let Flags {
        nodes,
        pods_per_node,
        subnets,
        out,
    } = flags;
    fs::create_dir_all(&out)?;
    let world = World {
        nodes,
        pods_per_node,
        sgp_percent: 18,
        subnets,
    };
    let kube_head = "{\"apiVersion\": \"v1\", \"kind\": \"List\", \"metadata\": {\"resourceVersion\": \"\"}, \"items\": [\n";
    write_list(
        out.join("nodes.json"),
        kube_head,
        "]}\n",
        (0..nodes).map(|n| world.node(n)),
    )?;
    let pods = write_list(
        out.join("pods.json"),
        kube_head,
        "]}\n",
        (0..world.pods()).map(|index| world.pod(index, 2_000_000 + index as u64, 0)),
    )?;
    let enis = write_list(
        out.join("network-interfaces.json"),
        "{\"NetworkInterfaces\": [\n",
        "]}\n",
        world.enis().map(|e| {
            eni(
                e.id,
                if e.trunk { "trunk" } else { "branch" },
                e.node,
                subnets,
            )
        }),
    )?;
    write_list(
        out.join("subnets.json"),
        "{\"Subnets\": [\n",
        "]}\n",
        (0..subnets).map(|s| {
            json!({"SubnetId": world.subnet_id(s), "VpcId": "vpc-0a3c5e7f9b1d2e4f6", "AvailabilityZone": "eu-west-1a",
                   "CidrBlock": format!("10.{}.0.0/19", s % 256), "AvailableIpAddressCount": 4000,
                   "Tags": [{"Key": "Name", "Value": format!("prod-private-{s}")}]})
        }),
    )?;
    fs::write(
        out.join("metadata.json"),
        "{\"capturedAt\": \"2026-11-24T09:45:00Z\", \"writtenBy\": \"synthetic_snapshot\"}\n",
    )?;
    eprintln!(
        "wrote {nodes} nodes, {pods} pods, {enis} ENIs, {subnets} subnets to {}",
        out.display()
    );
    Ok(())
}
