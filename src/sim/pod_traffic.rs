//! What one pod of the simulated mesh receives: the mesh computes it
//! (sim/mesh), the pod's log is written from it (sim/logs.rs), the node's
//! cAdvisor reports what it uses doing so (sim/node_metrics.rs).

/// What one pod receives now.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Traffic {
    /// Requests a second.
    pub rps: f64,
    /// The share of them that fail (503).
    pub error_rate: f64,
    /// Latency p50 and p99, in ms.
    pub latency: (f64, f64),
    /// Access-log lines its containers write a second.
    pub log_lines_per_second: f64,
    /// Each line padded to this length (0: as written).
    pub log_line_bytes: usize,
    /// CPU its containers use, in millicores.
    pub cpu_millicores: f64,
    /// Working-set memory of its containers, in MiB.
    pub memory_mib: f64,
}
