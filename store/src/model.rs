//! Jobs, policies, occurrences and attempts. (Stub; filled in by issue 2.)
