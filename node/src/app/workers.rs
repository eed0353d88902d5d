//! The connected workers of the whole cluster.

use std::time::Duration;

use proto::v1 as pb;

use super::{App, Caller};

/// How long the listing waits for each member.
const LIST_TIMEOUT: Duration = Duration::from_secs(2);

/// Every connected worker, and the members that did not answer.
pub struct WorkerList {
    /// In (node, worker id) order.
    pub workers: Vec<pb::WorkerInfo>,
    /// Members that did not answer within the deadline.
    pub unreachable: Vec<u64>,
}

impl App {
    /// Asks every member for its workers (this node answers for itself).
    pub async fn list_workers(&self, _caller: &Caller) -> WorkerList {
        let mut out = WorkerList {
            workers: self.workers.list(),
            unreachable: Vec::new(),
        };
        let mut asks = Vec::new();
        for (id, n) in self.node.membership().nodes() {
            if *id == self.node.id {
                continue;
            }
            let (id, addr, channels) = (*id, n.addr.clone(), self.node.channels.clone());
            asks.push(tokio::spawn(async move {
                crate::peers::local_workers(&channels, &addr, LIST_TIMEOUT)
                    .await
                    .ok_or(id)
            }));
        }
        for ask in asks {
            match ask.await {
                Ok(Ok(workers)) => out.workers.extend(workers),
                Ok(Err(id)) => out.unreachable.push(id),
                Err(_) => {}
            }
        }
        out.workers
            .sort_by(|a, b| (a.node_id, &a.worker_id).cmp(&(b.node_id, &b.worker_id)));
        out
    }
}
