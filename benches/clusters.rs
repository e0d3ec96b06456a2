//! Several clusters in one dashboard: C simulated clusters of N rollouts
//! each (`sim --scale N --no-controller`, separate processes), one `serve`
//! with a context per cluster, and for comparison `serve` on one of them
//! alone. Measured: when every cluster is listed, memory after sync (and
//! what each cluster after the first adds), the overview of all and one
//! cluster's overview under 50 concurrent requests, and propagation: M
//! clients on the clusters' overview streams (client c on cluster c mod C),
//! K status changes spread over the clusters, each timed from when a plain
//! watch on its sim saw it.
//!
//! `cargo bench --bench clusters -- [--clusters C] [--rollouts N]
//! [--clients M] [--changes K] [--rate R]`. Prints one table; writes
//! target/bench/clusters.json.

mod support;

fn main() {
    // `cargo test --all-targets` runs this file too, without --bench: not
    // a multi-minute benchmark then.
    if !support::has("--bench") {
        println!("clusters: a benchmark; run it with `cargo bench --bench clusters`");
        return;
    }
    support::clusters::run();
}
