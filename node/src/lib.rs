//! schedulerd as a library: the public API's conversions today; openraft
//! wiring, the leader loop and the executor follow (issues 4 and 5).

pub mod api;
