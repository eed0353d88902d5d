//! Chaos harness. Not built yet (issue 6).
