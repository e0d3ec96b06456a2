//! What recording the release history costs: 5,000 rollouts each released
//! twice (10,000 revisions, each through the seed's five steps, a promote
//! and a timed pause), looked at as the recorder does (the pure `observe`)
//! and written as it does (batches, one transaction each), into SQLite and,
//! given `ROLLOUTS_DASHBOARD_BENCH_PG=postgres://…`, PostgreSQL. Then the
//! reads the pages make. Prints a table; writes target/bench/history.json.
//!
//!     cargo bench --bench history [-- --rollouts N --releases R]

use std::time::Instant;

use rollouts_dashboard::history::facts::{Tracked, observe};
use rollouts_dashboard::history::release::{Pause, Phase, Release};
use rollouts_dashboard::history::store::{Batch, Store};
use rollouts_dashboard::model::RolloutKey;
use serde_json::{Value, json};

const STEPS: [&str; 5] = [
    "Set weight 20%",
    "Pause until promoted",
    "Set weight 50%",
    "Pause 30s",
    "Set weight 100%",
];
/// Batches written per transaction, as the recorder gathers them in a
/// quarter second under load.
const BATCH: usize = 500;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Seconds of CPU this process has used.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime, the 12th and 13th fields after the name.
    (ticks(11) + ticks(12)) / 100.0
}

/// The looks the recorder has of one release of revision `rev`, at `t` ms.
fn release_looks(uid: &str, rev: i64, t: i64) -> Vec<(i64, Release)> {
    let base = |step: Option<i32>, phase: Phase| Release {
        uid: uid.to_string(),
        revision: rev,
        hash: format!("h{rev}"),
        images: vec![format!("registry.example/app:v{rev}")],
        created_at: Some(t),
        phase,
        step_index: step,
        steps: STEPS.iter().map(|s| s.to_string()).collect(),
        known: (1..=rev).map(|r| (r, format!("h{r}"))).collect(),
        ..Release::default()
    };
    let paused = |step: i32, since: i64, until: Option<i64>| {
        let mut r = base(Some(step), Phase::Progressing);
        r.pause = Some(Pause {
            reason: "CanaryPauseStep".into(),
            since: Some(since),
            until,
        });
        r.cluster_now = Some(since);
        r.weight = Some(if step == 1 { 20 } else { 50 });
        r
    };
    let weighted = |step: i32, w: i32| {
        let mut r = base(Some(step), Phase::Progressing);
        r.weight = Some(w);
        r
    };
    vec![
        (t, weighted(0, 0)),
        (t + 5_000, paused(1, t + 5_000, None)),
        (t + 600_000, weighted(1, 20)),
        (t + 605_000, weighted(2, 50)),
        (t + 610_000, paused(3, t + 610_000, Some(t + 640_000))),
        (t + 640_000, weighted(4, 100)),
        (t + 650_000, base(Some(5), Phase::Promoted)),
    ]
}

fn file_bytes(path: &std::path::Path) -> u64 {
    ["", "-wal", "-shm"]
        .iter()
        .filter_map(|s| std::fs::metadata(format!("{}{s}", path.display())).ok())
        .map(|m| m.len())
        .sum()
}

async fn run(db: &str, label: &str, rollouts: usize, releases: usize) -> Value {
    let store = Store::open(db).await.expect("the database opens");
    let keys: Vec<RolloutKey> = (0..rollouts)
        .map(|i| RolloutKey::new(format!("team-{}", i % 20), format!("app-{i}")))
        .collect();
    let mut tracked: Vec<Option<Tracked>> = vec![None; rollouts];
    let mut pending: Vec<Batch> = Vec::new();
    let (mut looks, mut facts, mut transactions) = (0usize, 0usize, 0usize);
    let start_cpu = cpu_seconds();
    let started = Instant::now();
    let mut observe_s = 0.0;
    // Revision 1 is where each rollout stands when the recorder starts;
    // then `releases` releases each.
    for round in 1..=(releases as i64 + 1) {
        let t0 = 1_800_000_000_000 + round * 86_400_000;
        let per_rollout: Vec<Vec<(i64, Release)>> = (0..rollouts)
            .map(|i| {
                if round == 1 {
                    vec![(t0, {
                        let mut r = release_looks(&format!("uid-{i}"), 1, t0)
                            .pop()
                            .map(|(_, r)| r)
                            .unwrap_or_default();
                        r.step_index = Some(5);
                        r
                    })]
                } else {
                    release_looks(&format!("uid-{i}"), round, t0 + i as i64)
                }
            })
            .collect();
        let steps = per_rollout.iter().map(Vec::len).max().unwrap_or(0);
        // Rollouts move together, look by look, as a busy cluster would.
        for step in 0..steps {
            for (i, looks_of) in per_rollout.iter().enumerate() {
                let Some((wall, release)) = looks_of.get(step) else {
                    continue;
                };
                let t = Instant::now();
                let (next, new) = observe(tracked[i].as_ref(), release, *wall);
                observe_s += t.elapsed().as_secs_f64();
                looks += 1;
                facts += new.len();
                pending.push(Batch {
                    key: keys[i].clone(),
                    tracked: next.clone(),
                    facts: new,
                    seen_at: *wall,
                });
                tracked[i] = Some(next);
                if pending.len() >= BATCH {
                    store.write(&pending).await.expect("written");
                    transactions += 1;
                    pending.clear();
                }
            }
        }
    }
    if !pending.is_empty() {
        store.write(&pending).await.expect("written");
        transactions += 1;
    }
    let write_wall = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - start_cpu;
    let counts = store.counts().await.expect("counts");
    let count = |t: &str| counts.iter().find(|(n, _)| *n == t).map_or(0, |(_, c)| *c);
    let revisions = count("history_revisions");
    // The reads the pages make.
    let t = Instant::now();
    let reads = 200;
    for i in 0..reads {
        let h = store
            .history(&keys[i * 7 % rollouts], 50)
            .await
            .expect("read");
        assert_eq!(h.len(), releases + 1, "each revision read back");
    }
    let history_ms = t.elapsed().as_secs_f64() * 1000.0 / reads as f64;
    let t = Instant::now();
    let all = store.releases(0, 20_000).await.expect("releases");
    let releases_ms = t.elapsed().as_secs_f64() * 1000.0;
    let size = match db.strip_prefix("sqlite://") {
        Some(path) => file_bytes(std::path::Path::new(path)),
        None => {
            // PostgreSQL: what its tables and indexes take.
            let row: Option<i64> = sqlx_size(db).await;
            row.map_or(0, |b| b as u64)
        }
    };
    store.close().await;
    let per_10k = |v: f64| v / revisions.max(1) as f64 * 10_000.0;
    json!({
        "database": label,
        "rollouts": rollouts,
        "revisions": revisions,
        "looks": looks,
        "facts": facts,
        "steps": count("history_steps"),
        "events": count("history_events"),
        "transactions": transactions,
        "cpu_s": cpu,
        "cpu_s_per_10k_revisions": per_10k(cpu),
        "observe_s_per_10k_revisions": per_10k(observe_s),
        "wall_s": write_wall,
        "bytes": size,
        "mb_per_10k_revisions": per_10k(size as f64) / 1_048_576.0,
        "history_read_ms": history_ms,
        "releases_read_ms": releases_ms,
        "releases_read": all.len(),
    })
}

/// The database's size as PostgreSQL reports it.
async fn sqlx_size(url: &str) -> Option<i64> {
    use sqlx::Row;
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .ok()?;
    let row = sqlx::query("SELECT CAST(pg_database_size(current_database()) AS BIGINT)")
        .fetch_one(&pool)
        .await
        .ok()?;
    row.try_get::<i64, _>(0).ok()
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("history: a benchmark; run it with `cargo bench --bench history`");
        return;
    }
    let rollouts = arg("--rollouts", 5_000);
    let releases = arg("--releases", 2);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    let _ = std::fs::create_dir_all(&dir);
    let file = dir.join("history-bench.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
    }
    let mut results = vec![rt.block_on(run(
        &format!("sqlite://{}", file.display()),
        "SQLite",
        rollouts,
        releases,
    ))];
    if let Ok(pg) = std::env::var("ROLLOUTS_DASHBOARD_BENCH_PG") {
        results.push(rt.block_on(run(&pg, "PostgreSQL", rollouts, releases)));
    }
    println!();
    println!(
        "| database | rollouts | revisions | looks | facts | transactions | CPU s | CPU s / 10k revisions | of which observe s | MB / 10k revisions | history read ms | releases read ms ({} rows) |",
        results[0]["releases_read"]
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &results {
        let f = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
        println!(
            "| {} | {} | {} | {} | {} | {} | {:.2} | {:.2} | {:.3} | {:.1} | {:.2} | {:.0} |",
            r["database"].as_str().unwrap_or(""),
            r["rollouts"],
            r["revisions"],
            r["looks"],
            r["facts"],
            r["transactions"],
            f("cpu_s"),
            f("cpu_s_per_10k_revisions"),
            f("observe_s_per_10k_revisions"),
            f("mb_per_10k_revisions"),
            f("history_read_ms"),
            f("releases_read_ms"),
        );
    }
    let _ = std::fs::write(
        dir.join("history.json"),
        serde_json::to_string_pretty(&results).unwrap_or_default(),
    );
}
