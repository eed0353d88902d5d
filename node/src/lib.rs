//! schedulerd as a library.
//!
//! - [`config`]: the command line (every flag also an env var);
//!   [`config_file`]: `--config FILE` (TOML) beneath flags and env vars.
//! - [`server`]: start-up (storage, Raft, gRPC, bootstrap/join) and graceful shutdown.
//! - [`node`]: a member's handles and the write path (propose or forward).
//! - [`write_batch`]: concurrent client writes grouped into one entry.
//! - [`raft`]: openraft wiring over gRPC.
//! - [`attempt`]: one attempt's contract facts and outcome.
//! - [`executor`]: the registry of executor kinds (shell, HTTP, worker) that run one attempt.
//! - [`error`]: `ApiError`, the transport-neutral error of every operation.
//! - [`peers`]: channels to peers, their last contact, and the typed peer calls.
//! - [`clock`]: the schedule's clock rules (wall clock, hints, lease).
//! - [`auth`]: callers, the policy table and the decision (tokens, roles);
//!   the tower layer applying it lives in [`server`].
//! - [`app`]: the application layer: every public operation once, on
//!   model types, with a transport-neutral error.
//! - [`api`]: the gRPC adapters over it, and the internal services.
//! - [`http`]: the JSON API under `/api/v1`, its OpenAPI document and the
//!   dashboard, on the client port beside gRPC.
//! - [`firing`]: the leader's firing loop and every node's runner.
//! - [`metrics`]: Prometheus metrics at `--metrics HOST:PORT`.
//! - [`workers`]: sessions of the user's worker processes, and what they
//!   serve, reported to the leader.

pub mod api;
pub mod app;
pub mod attempt;
pub mod auth;
pub mod clock;
pub mod config;
pub mod config_file;
pub mod error;
pub mod executor;
pub mod firing;
pub mod http;
pub mod metrics;
pub mod node;
pub mod peers;
pub mod raft;
pub mod server;
pub mod tls;
pub mod workers;
pub mod write_batch;

#[cfg(test)]
mod module_graph_tests;
