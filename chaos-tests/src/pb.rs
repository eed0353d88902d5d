//! Small builders of the public API's protobuf values, shared by the
//! workload, the benchmarks and the node's process tests.

use proto::v1 as pb;

pub use proto::time::{duration as dur, timestamp as ts};

/// Milliseconds since the epoch of a protobuf timestamp (0 when out of range).
pub fn ms(t: &prost_types::Timestamp) -> i64 {
    proto::time::millis(t).unwrap_or(0)
}

/// An HTTP executor posting to `url`.
pub fn http(url: &str) -> pb::Executor {
    pb::Executor {
        kind: Some(pb::executor::Kind::Http(pb::HttpExecutor {
            method: "POST".into(),
            url: url.into(),
            ..Default::default()
        })),
    }
}
