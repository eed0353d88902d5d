//! `registration`: job creates per second through the public gRPC API,
//! with 1, 16 and 64 concurrent clients (one channel each) writing to the
//! leader; each create is acknowledged once a majority flushed it.

use std::time::{Duration, Instant};

use chaos_tests::harness;
use chaos_tests::steal::{cpu_jiffies, steal_percent};
use serde_json::json;

use crate::cluster::{Cluster, jobs_client};

#[derive(clap::Args)]
pub struct Args {
    /// Seconds per client count.
    #[arg(long, default_value_t = 10)]
    secs: u64,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let secs = args.secs;
    let cluster = Cluster::start(3, &[]).await?;
    let (_, addr) = cluster.leader().await?;
    for clients in [1usize, 16, 64] {
        let j0 = cpu_jiffies();
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut tasks = Vec::new();
        for c in 0..clients {
            let addr = addr.clone();
            tasks.push(tokio::spawn(async move {
                let mut client = jobs_client(&addr).await?;
                let mut done = 0u64;
                while Instant::now() < deadline {
                    client
                        .create_job(harness::daily_job(&format!("reg-{clients}-{c}-{done}")))
                        .await?;
                    done += 1;
                }
                anyhow::Ok(done)
            }));
        }
        let mut total = 0;
        for t in tasks {
            total += t.await??;
        }
        println!(
            "{}",
            json!({"bench": "registration", "clients": clients, "secs": secs, "creates": total,
                   "per_sec": total as f64 / secs as f64, "through": "leader",
                   "steal_pct": steal_percent(j0, cpu_jiffies())})
        );
    }
    Ok(())
}
