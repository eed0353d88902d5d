//! Health: readiness (`""` and the job service) is SERVING once this node
//! is a member and knows a leader; liveness (the cluster service) is
//! SERVING whenever the server answers.

use openraft::ServerState;
use proto::v1::job_service_server::JobServiceServer;

use crate::api::jobs::Jobs;
use crate::node::Node;

/// SERVING once this node is a member and knows a leader.
pub(super) async fn track_health(node: Node, health: tonic_health::server::HealthReporter) {
    let mut metrics = node.raft.metrics();
    let mut serving = None;
    loop {
        let now_serving = {
            let m = metrics.borrow_and_update();
            let member = m
                .membership_config
                .membership()
                .get_node(&node.id)
                .is_some();
            member && m.current_leader.is_some() && m.state != ServerState::Shutdown
        };
        if serving != Some(now_serving) {
            if now_serving {
                health.set_serving::<JobServiceServer<Jobs>>().await;
                health
                    .set_service_status("", tonic_health::ServingStatus::Serving)
                    .await;
            } else {
                health.set_not_serving::<JobServiceServer<Jobs>>().await;
                health
                    .set_service_status("", tonic_health::ServingStatus::NotServing)
                    .await;
            }
            serving = Some(now_serving);
        }
        if metrics.changed().await.is_err() {
            return;
        }
    }
}
