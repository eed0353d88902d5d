//! Groups concurrent client writes into one log entry.
//!
//! Every entry costs a flush on a majority of nodes, so one entry per
//! `CreateJob` capped registration near the rate of flushes (about 1,300
//! creates/s with 64 clients). Here, writes that arrive while earlier ones
//! are in flight wait in a queue, and the next free slot takes the whole
//! queue as one `Command::Batch`. There is no batching window: a lone
//! write goes at once, on its own, and batches form only under load.
//!
//! A batch is all or nothing on the wire: if it is not committed, every
//! client in it gets the same error and may retry, and each command stays
//! idempotent on its own (a retry lands in another batch).

use std::sync::Arc;

use store::command::{Command, Response};
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::error::ApiError;
use crate::node::{Node, Written};

/// Most commands in one entry.
const MAX_BATCH: usize = 512;
/// Most encoded bytes of one batch (a single larger command goes alone).
const MAX_BATCH_BYTES: usize = 1 << 20;
/// Batches proposed at once: enough to keep the leader's pipeline busy.
const MAX_IN_FLIGHT: usize = 4;
/// Writes queued before callers wait.
const QUEUE: usize = 8_192;

type Item = (Command, usize, oneshot::Sender<Result<Written, ApiError>>);

/// Handle to a node's write batcher.
#[derive(Clone)]
pub struct WriteBatcher {
    tx: mpsc::Sender<Item>,
}

impl WriteBatcher {
    /// Starts the batcher for `node`.
    pub fn start(node: Node) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(node, rx));
        WriteBatcher { tx }
    }

    /// Commits `cmd` (in a batch with whatever else is waiting) and returns
    /// its own response, once it is applied on this node, as
    /// [`Node::write`] does.
    pub async fn write(&self, cmd: Command) -> Result<Written, ApiError> {
        let bytes = postcard::to_allocvec(&cmd)
            .map_err(|e| ApiError::Internal(format!("encode command: {e}")))?
            .len();
        let (done, wait) = oneshot::channel();
        self.tx
            .send((cmd, bytes, done))
            .await
            .map_err(|_| ApiError::unavailable("the node is shutting down"))?;
        wait.await
            .map_err(|_| ApiError::unavailable("the node is shutting down"))?
    }
}

async fn run(node: Node, mut rx: mpsc::Receiver<Item>) {
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    loop {
        // Take a slot before the next write: while every slot is busy,
        // writes gather in the queue and leave together.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = rx.recv().await else { return };
        let mut bytes = first.1;
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
            match rx.try_recv() {
                Ok(item) => {
                    bytes += item.1;
                    batch.push(item);
                }
                Err(_) => break,
            }
        }
        let node = node.clone();
        tokio::spawn(async move {
            commit(&node, batch).await;
            drop(slot);
        });
    }
}

/// Commits one batch and answers each of its writers.
async fn commit(node: &Node, mut batch: Vec<Item>) {
    if batch.len() == 1 {
        if let Some((cmd, _, done)) = batch.pop() {
            let _ = done.send(node.write(cmd).await);
        }
        return;
    }
    let (cmds, waiters): (Vec<Command>, Vec<_>) =
        batch.into_iter().map(|(c, _, done)| (c, done)).unzip();
    let n = cmds.len();
    match node.write(Command::Batch(cmds)).await {
        Ok(Written {
            response: Response::Batch(responses),
            index,
        }) if responses.len() == n => {
            for (response, done) in responses.into_iter().zip(waiters) {
                let _ = done.send(Ok(Written { response, index }));
            }
        }
        Ok(other) => {
            let status = ApiError::Internal(format!(
                "a batch of {n} writes got an unexpected response {:?}",
                other.response
            ));
            for done in waiters {
                let _ = done.send(Err(status.clone()));
            }
        }
        Err(status) => {
            for done in waiters {
                let _ = done.send(Err(status.clone()));
            }
        }
    }
}
