//! The standard `process_*` metrics every Prometheus exporter has (names and meaning as
//! client_golang's process collector), read from `/proc/self` at scrape time, so
//! dashboards and alerts written for other exporters work on this one.

use procfs::process::{LimitValue, Process};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

/// Name (counters without `_total`, which the encoder appends), help, type.
const CPU: (&str, &str) = (
    "process_cpu_seconds",
    "Total user and system CPU time spent in seconds.",
);
const RESIDENT: (&str, &str) = (
    "process_resident_memory_bytes",
    "Resident memory size in bytes.",
);
const VIRTUAL: (&str, &str) = (
    "process_virtual_memory_bytes",
    "Virtual memory size in bytes.",
);
const OPEN_FDS: (&str, &str) = ("process_open_fds", "Number of open file descriptors.");
const MAX_FDS: (&str, &str) = (
    "process_max_fds",
    "Maximum number of open file descriptors.",
);
const START_TIME: (&str, &str) = (
    "process_start_time_seconds",
    "Start time of the process since unix epoch in seconds.",
);
const THREADS: (&str, &str) = ("process_threads", "Number of OS threads in the process.");

/// Adds the collector to the root of `registry` (these names carry no exporter prefix).
pub fn register(registry: &mut Registry) {
    registry.register_collector(Box::new(ProcessCollector));
}

#[derive(Debug)]
struct ProcessCollector;

/// What one read of `/proc/self` gives; `None` where the kernel did not say.
#[derive(Debug, Default)]
struct Reading {
    cpu_seconds: Option<f64>,
    resident_bytes: Option<f64>,
    virtual_bytes: Option<f64>,
    open_fds: Option<f64>,
    max_fds: Option<f64>,
    start_time_seconds: Option<f64>,
    threads: Option<f64>,
}

fn read() -> Reading {
    let Ok(process) = Process::myself() else {
        return Reading::default();
    };
    let mut reading = Reading {
        open_fds: process.fd_count().ok().map(|n| n as f64),
        max_fds: process
            .limits()
            .ok()
            .and_then(|limits| match limits.max_open_files.soft_limit {
                LimitValue::Value(n) => Some(n as f64),
                LimitValue::Unlimited => None,
            }),
        ..Reading::default()
    };
    if let Ok(stat) = process.stat() {
        let ticks = procfs::ticks_per_second() as f64;
        reading.cpu_seconds = Some((stat.utime + stat.stime) as f64 / ticks);
        reading.resident_bytes = Some((stat.rss * procfs::page_size()) as f64);
        reading.virtual_bytes = Some(stat.vsize as f64);
        reading.threads = Some(stat.num_threads as f64);
        reading.start_time_seconds = procfs::boot_time_secs()
            .ok()
            .map(|boot| boot as f64 + stat.starttime as f64 / ticks);
    }
    reading
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let reading = read();
        if let Some(seconds) = reading.cpu_seconds {
            let family = encoder.encode_descriptor(CPU.0, CPU.1, None, MetricType::Counter)?;
            ConstCounter::new(seconds).encode(family)?;
        }
        for ((name, help), value) in [
            (RESIDENT, reading.resident_bytes),
            (VIRTUAL, reading.virtual_bytes),
            (OPEN_FDS, reading.open_fds),
            (MAX_FDS, reading.max_fds),
            (START_TIME, reading.start_time_seconds),
            (THREADS, reading.threads),
        ] {
            if let Some(value) = value {
                let family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
                ConstGauge::new(value).encode(family)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_this_process_as_the_kernel_sees_it() {
        // Enough work to cross a clock tick of CPU time.
        let spin = std::time::Instant::now();
        let mut x = 0u64;
        while spin.elapsed() < std::time::Duration::from_millis(100) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let mut registry = Registry::default();
        register(&mut registry);
        let (body, _) = crate::metrics::render(&registry, false);
        let value = |name: &str| -> f64 {
            body.lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
                .unwrap_or_else(|| panic!("{name} missing from:\n{body}"))
                .parse()
                .expect("a number")
        };
        let status = std::fs::read_to_string("/proc/self/status").expect("status");
        let rss_kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .expect("VmRSS");
        let rss = value("process_resident_memory_bytes");
        assert!(
            (rss / 1024.0 - rss_kib).abs() < rss_kib / 2.0,
            "{rss} bytes against VmRSS {rss_kib} KiB"
        );
        assert!(value("process_virtual_memory_bytes") >= rss);
        // This test's own files are open: at least stdin/out/err.
        assert!(value("process_open_fds") >= 3.0);
        assert!(value("process_max_fds") >= value("process_open_fds"));
        assert!(value("process_cpu_seconds_total") > 0.0);
        assert!(value("process_threads") >= 1.0);
        let now = jiff::Timestamp::now().as_second() as f64;
        let started = value("process_start_time_seconds");
        assert!(
            started <= now + 1.0 && started > now - 3600.0,
            "{started} against {now}"
        );
        assert!(
            body.contains("# TYPE process_cpu_seconds_total counter"),
            "{body}"
        );
    }
}
