//! `clusterctl workers`: every worker process connected to any member.

use proto::v1 as pb;

use crate::Output;
use crate::client::Cluster;

/// Lists the connected workers.
pub async fn list(cluster: &Cluster, out: Output) -> anyhow::Result<()> {
    let resp = cluster
        .with_workers(|mut c| async move { c.list_workers(pb::ListWorkersRequest {}).await })
        .await?
        .into_inner();
    match out {
        Output::Json | Output::Jsonl => {
            let workers: Vec<serde_json::Value> = resp
                .workers
                .iter()
                .map(|w| {
                    serde_json::json!({
                        "node_id": w.node_id,
                        "worker_id": w.worker_id,
                        "queues": w.queues,
                        "functions": w.functions,
                        "slots": w.slots,
                        "in_flight": w.in_flight,
                        "description": w.description,
                    })
                })
                .collect();
            println!(
                "{}",
                serde_json::json!({"workers": workers, "unreachable": resp.unreachable})
            );
        }
        Output::Text => {
            if resp.workers.is_empty() {
                println!("no workers connected");
            }
            for w in &resp.workers {
                println!(
                    "node {}  {}  queues: {}  functions: {}  slots: {}  in flight: {}",
                    w.node_id,
                    w.worker_id,
                    w.queues.join(","),
                    w.functions.join(","),
                    w.slots,
                    w.in_flight
                );
            }
            if !resp.unreachable.is_empty() {
                println!("not answering: nodes {:?}", resp.unreachable);
            }
        }
    }
    Ok(())
}
