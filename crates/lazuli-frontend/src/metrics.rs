//! Prometheus metrics: requests by operation and status, latency histograms, stream appends
//! and fsync latency, rendered in the text exposition format on the metrics port.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

/// Latency histogram bucket bounds in seconds.
const LATENCY_BUCKETS_SECONDS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
struct Histogram {
    buckets: [u64; LATENCY_BUCKETS_SECONDS.len()],
    count: u64,
    sum_seconds: f64,
}

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<HashMap<(&'static str, u16), u64>>,
    latency: Mutex<HashMap<&'static str, Histogram>>,
    /// Request body bytes declared by clients (Content-Length).
    bytes_in: AtomicU64,
    /// Response body bytes announced to clients.
    bytes_out: AtomicU64,
}

impl Metrics {
    pub fn add_bytes(&self, bytes_in: u64, bytes_out: u64) {
        self.bytes_in.fetch_add(bytes_in, Ordering::Relaxed);
        self.bytes_out.fetch_add(bytes_out, Ordering::Relaxed);
    }

    pub fn observe(&self, operation: &'static str, status: u16, elapsed: Duration) {
        *self.requests.lock().entry((operation, status)).or_default() += 1;
        let seconds = elapsed.as_secs_f64();
        let mut latency = self.latency.lock();
        let histogram = latency.entry(operation).or_default();
        for (bucket, bound) in histogram.buckets.iter_mut().zip(LATENCY_BUCKETS_SECONDS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        histogram.count += 1;
        histogram.sum_seconds += seconds;
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# TYPE lazuli_request_bytes_total counter\nlazuli_request_bytes_total {}",
            self.bytes_in.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# TYPE lazuli_response_bytes_total counter\nlazuli_response_bytes_total {}",
            self.bytes_out.load(Ordering::Relaxed)
        );
        out.push_str("# TYPE lazuli_requests_total counter\n");
        let mut requests: Vec<_> = self.requests.lock().iter().map(|(k, v)| (*k, *v)).collect();
        requests.sort();
        for ((operation, status), count) in requests {
            let _ = writeln!(
                out,
                "lazuli_requests_total{{operation=\"{operation}\",status=\"{status}\"}} {count}"
            );
        }
        out.push_str("# TYPE lazuli_request_duration_seconds histogram\n");
        let latency = self.latency.lock();
        let mut operations: Vec<_> = latency.keys().copied().collect();
        operations.sort();
        for operation in operations {
            let Some(h) = latency.get(operation) else { continue };
            for (bound, count) in LATENCY_BUCKETS_SECONDS.iter().zip(h.buckets) {
                let _ = writeln!(
                    out,
                    "lazuli_request_duration_seconds_bucket{{operation=\"{operation}\",le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "lazuli_request_duration_seconds_bucket{{operation=\"{operation}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "lazuli_request_duration_seconds_sum{{operation=\"{operation}\"}} {}",
                h.sum_seconds
            );
            let _ = writeln!(
                out,
                "lazuli_request_duration_seconds_count{{operation=\"{operation}\"}} {}",
                h.count
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let metrics = Metrics::default();
        metrics.observe("GetBlob", 200, Duration::from_millis(3));
        metrics.observe("GetBlob", 200, Duration::from_millis(30));
        metrics.observe("PutBlob", 201, Duration::from_micros(100));
        metrics.add_bytes(10, 20);
        let text = metrics.render();
        assert!(
            text.contains("lazuli_requests_total{operation=\"GetBlob\",status=\"200\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("lazuli_request_duration_seconds_bucket{operation=\"GetBlob\",le=\"0.005\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("lazuli_request_duration_seconds_count{operation=\"PutBlob\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("lazuli_request_bytes_total 10") && text.contains("lazuli_response_bytes_total 20"),
            "{text}"
        );
    }
}
