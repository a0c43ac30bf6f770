//! Prometheus metrics: lock-free counters indexed by (protocol, message type), error codes
//! and request latency histograms, rendered as text on `GET /metrics`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::state::SessionRegistry;

/// Protocol slots: 0..=25 by number, 26 for anything else (2100 WitsmlSoap).
const PROTOCOL_SLOTS: usize = 27;
/// Message type slots: 0..=29 by number, 30 for 1000, 31 for 1001 and others.
const TYPE_SLOTS: usize = 32;
const CELLS: usize = PROTOCOL_SLOTS * TYPE_SLOTS;
/// Error codes 0..=32 by number, 33 for the rest.
const ERROR_SLOTS: usize = 34;
/// Latency bucket upper bounds in seconds.
const BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5, 10.0,
];

/// All counters. Shared by every session; updated with relaxed atomics on the hot path.
pub struct Metrics {
    messages_in: Vec<AtomicU64>,
    bytes_in: Vec<AtomicU64>,
    messages_out: Vec<AtomicU64>,
    bytes_out: Vec<AtomicU64>,
    errors: Vec<AtomicU64>,
    latency_buckets: Vec<AtomicU64>,
    latency_sum_micros: Vec<AtomicU64>,
    latency_count: Vec<AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        let zeros = |n: usize| (0..n).map(|_| AtomicU64::new(0)).collect::<Vec<_>>();
        Metrics {
            messages_in: zeros(CELLS),
            bytes_in: zeros(CELLS),
            messages_out: zeros(CELLS),
            bytes_out: zeros(CELLS),
            errors: zeros(ERROR_SLOTS),
            latency_buckets: zeros(CELLS * BUCKETS.len()),
            latency_sum_micros: zeros(CELLS),
            latency_count: zeros(CELLS),
        }
    }
}

fn cell(protocol: i32, message_type: i32) -> usize {
    let p = usize::try_from(protocol)
        .ok()
        .filter(|&p| p < PROTOCOL_SLOTS - 1)
        .unwrap_or(PROTOCOL_SLOTS - 1);
    let t = match message_type {
        1000 => 30,
        t => usize::try_from(t).ok().filter(|&t| t < 30).unwrap_or(31),
    };
    p * TYPE_SLOTS + t
}

fn labels(index: usize) -> (String, String) {
    let p = index / TYPE_SLOTS;
    let t = index % TYPE_SLOTS;
    let protocol = if p == PROTOCOL_SLOTS - 1 {
        "other".to_owned()
    } else {
        p.to_string()
    };
    let message_type = match t {
        30 => "1000".to_owned(),
        31 => "other".to_owned(),
        t => t.to_string(),
    };
    (protocol, message_type)
}

impl Metrics {
    /// Counts one received message.
    pub fn count_in(&self, protocol: i32, message_type: i32, bytes: usize) {
        let c = cell(protocol, message_type);
        self.messages_in[c].fetch_add(1, Ordering::Relaxed);
        self.bytes_in[c].fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Counts one sent message.
    pub fn count_out(&self, protocol: i32, message_type: i32, bytes: usize) {
        let c = cell(protocol, message_type);
        self.messages_out[c].fetch_add(1, Ordering::Relaxed);
        self.bytes_out[c].fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Counts one ProtocolException sent with `code`.
    pub fn count_error(&self, code: i32) {
        let slot = usize::try_from(code)
            .ok()
            .filter(|&c| c < ERROR_SLOTS - 1)
            .unwrap_or(ERROR_SLOTS - 1);
        self.errors[slot].fetch_add(1, Ordering::Relaxed);
    }

    /// Records how long a request took to handle.
    pub fn observe_latency(&self, protocol: i32, message_type: i32, elapsed: Duration) {
        let c = cell(protocol, message_type);
        let secs = elapsed.as_secs_f64();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                self.latency_buckets[c * BUCKETS.len() + i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_sum_micros[c].fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
        self.latency_count[c].fetch_add(1, Ordering::Relaxed);
    }

    /// Prometheus text exposition format.
    pub fn render(&self, sessions: &SessionRegistry) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# HELP etp_sessions_open Sessions currently open.\n# TYPE etp_sessions_open gauge\netp_sessions_open {}",
            sessions.len()
        );
        let _ = writeln!(
            s,
            "# HELP etp_sessions_total Sessions accepted since start.\n# TYPE etp_sessions_total counter\netp_sessions_total {}",
            sessions.total()
        );
        let series: [(&str, &str, &Vec<AtomicU64>); 4] = [
            (
                "etp_messages_received_total",
                "Messages received",
                &self.messages_in,
            ),
            (
                "etp_bytes_received_total",
                "Bytes received (WebSocket payload)",
                &self.bytes_in,
            ),
            (
                "etp_messages_sent_total",
                "Messages sent",
                &self.messages_out,
            ),
            (
                "etp_bytes_sent_total",
                "Bytes sent (WebSocket payload)",
                &self.bytes_out,
            ),
        ];
        for (name, help, values) in series {
            let _ = writeln!(
                s,
                "# HELP {name} {help}, by protocol and message type.\n# TYPE {name} counter"
            );
            for (i, v) in values.iter().enumerate() {
                let v = v.load(Ordering::Relaxed);
                if v > 0 {
                    let (p, t) = labels(i);
                    let _ = writeln!(s, "{name}{{protocol=\"{p}\",message_type=\"{t}\"}} {v}");
                }
            }
        }
        let _ = writeln!(
            s,
            "# HELP etp_protocol_exceptions_total ProtocolExceptions sent, by error code.\n# TYPE etp_protocol_exceptions_total counter"
        );
        for (i, v) in self.errors.iter().enumerate() {
            let v = v.load(Ordering::Relaxed);
            if v > 0 {
                let code = if i == ERROR_SLOTS - 1 {
                    "other".to_owned()
                } else {
                    i.to_string()
                };
                let _ = writeln!(s, "etp_protocol_exceptions_total{{code=\"{code}\"}} {v}");
            }
        }
        let _ = writeln!(
            s,
            "# HELP etp_request_duration_seconds Time to handle a request, by protocol and message type.\n# TYPE etp_request_duration_seconds histogram"
        );
        for c in 0..CELLS {
            let count = self.latency_count[c].load(Ordering::Relaxed);
            if count == 0 {
                continue;
            }
            let (p, t) = labels(c);
            for (i, bound) in BUCKETS.iter().enumerate() {
                let v = self.latency_buckets[c * BUCKETS.len() + i].load(Ordering::Relaxed);
                let _ = writeln!(
                    s,
                    "etp_request_duration_seconds_bucket{{protocol=\"{p}\",message_type=\"{t}\",le=\"{bound}\"}} {v}"
                );
            }
            let _ = writeln!(
                s,
                "etp_request_duration_seconds_bucket{{protocol=\"{p}\",message_type=\"{t}\",le=\"+Inf\"}} {count}"
            );
            let sum = self.latency_sum_micros[c].load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(
                s,
                "etp_request_duration_seconds_sum{{protocol=\"{p}\",message_type=\"{t}\"}} {sum}"
            );
            let _ = writeln!(
                s,
                "etp_request_duration_seconds_count{{protocol=\"{p}\",message_type=\"{t}\"}} {count}"
            );
        }
        s
    }
}
