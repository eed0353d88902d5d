//! openraft log storage and state machine on sled. (Stub; issue 2.)
