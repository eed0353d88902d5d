//! `clusterctl status`, `join` and `leave`.

use proto::v1 as pb;

use crate::Output;
use crate::client::Cluster;

/// `status`: members, leader, term, log positions, lag and health.
pub async fn status(cluster: &Cluster, out: Output) -> anyhow::Result<()> {
    let s = cluster
        .with_cluster(|mut c| async move { c.status(pb::StatusRequest {}).await })
        .await?
        .into_inner();
    print_status(&s, out);
    Ok(())
}

/// `join --id N --addr HOST:PORT`: learner, catch up, voter.
pub async fn join(cluster: &Cluster, id: u64, addr: String, out: Output) -> anyhow::Result<()> {
    let s = cluster
        .with_cluster(|mut c| {
            let addr = addr.clone();
            async move { c.add_member(pb::AddMemberRequest { id, addr }).await }
        })
        .await?
        .into_inner();
    print_status(&s, out);
    Ok(())
}

/// `leave --id N`.
pub async fn leave(cluster: &Cluster, id: u64, out: Output) -> anyhow::Result<()> {
    let s = cluster
        .with_cluster(|mut c| async move { c.remove_member(pb::RemoveMemberRequest { id }).await })
        .await?
        .into_inner();
    print_status(&s, out);
    Ok(())
}

/// The status in the JSON shape of docs/cli.md ("JSON that scripts can rely
/// on": `status -o json`).
pub fn status_json(s: &pb::ClusterStatus) -> serde_json::Value {
    serde_json::json!({
        "leader": s.leader,
        "term": s.term,
        "membership_changing": s.membership_changing,
        "members": s.members.iter().map(|m| serde_json::json!({
            "id": m.id,
            "addr": m.addr,
            "voter": m.voter,
            "state": m.state,
            "last_log_index": m.last_log_index,
            "applied_index": m.applied_index,
            "lag": m.lag,
            "healthy": m.healthy,
        })).collect::<Vec<_>>(),
    })
}

fn print_status(s: &pb::ClusterStatus, out: Output) {
    match out {
        Output::Json | Output::Jsonl => println!("{}", status_json(s)),
        Output::Text => {
            match s.leader {
                Some(l) => println!(
                    "leader: node {l}   term: {}   (answered by node {})",
                    s.term, s.answered_by
                ),
                None => println!(
                    "leader: none known   term: {}   (answered by node {})",
                    s.term, s.answered_by
                ),
            }
            println!(
                "{:>4}  {:<22} {:<6} {:<10} {:>9} {:>9} {:>7}  health",
                "id", "addr", "voter", "state", "last_log", "applied", "lag"
            );
            for m in &s.members {
                println!(
                    "{:>4}  {:<22} {:<6} {:<10} {:>9} {:>9} {:>7}  {}",
                    m.id,
                    m.addr,
                    if m.voter { "yes" } else { "no" },
                    m.state,
                    m.last_log_index,
                    m.applied_index,
                    m.lag,
                    if m.healthy { "ok" } else { "UNHEALTHY" }
                );
            }
            if s.membership_changing {
                println!(
                    "membership change in progress: until it finishes, the cluster \
                     tolerates only what both the old and the new voters tolerate"
                );
            }
        }
    }
}
