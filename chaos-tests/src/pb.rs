//! Small builders of the public API's protobuf values, shared by the
//! workload, the benchmarks and the node's process tests.

use proto::v1 as pb;

/// A protobuf timestamp of `ms` since the epoch.
pub fn ts(ms: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    }
}

/// Milliseconds since the epoch of a protobuf timestamp.
pub fn ms(t: &prost_types::Timestamp) -> i64 {
    t.seconds * 1000 + i64::from(t.nanos) / 1_000_000
}

/// A protobuf duration of `ms`.
pub fn dur(ms: u64) -> prost_types::Duration {
    prost_types::Duration {
        seconds: (ms / 1000) as i64,
        nanos: ((ms % 1000) * 1_000_000) as i32,
    }
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
