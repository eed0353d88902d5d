//! Explicit limits on everything a client can send. Checked by
//! [`super::validate_spec`] before a command is proposed and again when it is
//! applied, so an oversize or malformed job never reaches the state.

/// Longest job id, in bytes.
pub const MAX_JOB_ID_LEN: usize = 128;
/// Longest job name, in bytes.
pub const MAX_NAME_LEN: usize = 256;
/// Most labels (and node-selector entries) on one job.
pub const MAX_LABELS: usize = 32;
/// Longest label key or value, in bytes.
pub const MAX_LABEL_LEN: usize = 63;
/// Longest schedule string, in bytes.
pub const MAX_SCHEDULE_LEN: usize = 1024;
/// Largest HTTP body, in bytes.
pub const MAX_HTTP_BODY: usize = 64 * 1024;
/// Largest worker job's arguments (JSON text), in bytes.
pub const MAX_WORKER_ARGS: usize = 64 * 1024;
/// Longest worker queue name (and worker id), in bytes.
pub const MAX_QUEUE_LEN: usize = 128;
/// Longest worker function name, in bytes.
pub const MAX_FUNCTION_LEN: usize = 256;
/// Most queues one worker serves.
pub const MAX_WORKER_QUEUES: usize = 64;
/// Most functions one worker serves.
pub const MAX_WORKER_FUNCTIONS: usize = 1024;
/// Most attempts one worker may run at once (its slots).
pub const MAX_WORKER_SLOTS: u32 = 1024;
/// Longest URL, in bytes.
pub const MAX_URL_LEN: usize = 2048;
/// Most HTTP headers or shell env entries.
pub const MAX_HEADERS: usize = 64;
/// Longest header/env value or shell argument, in bytes.
pub const MAX_ARG_LEN: usize = 8 * 1024;
/// Most shell arguments.
pub const MAX_ARGS: usize = 256;
/// Most retries.
pub const MAX_RETRIES: u32 = 100;
/// Most concurrent instances of one job.
pub const MAX_INSTANCES: u32 = 1000;
/// Longest output tail kept per attempt, in bytes.
pub const MAX_OUTPUT_TAIL: usize = 4 * 1024;
/// Longest duration accepted for any policy (one year).
pub const MAX_DURATION_MS: u64 = 366 * 24 * 3600 * 1000;
/// Most occurrences one "advance" of one job creates in one log entry; the
/// rest of a larger backlog is summarised in one missed event.
pub const MAX_BACKLOG_PER_ADVANCE: usize = 1000;
/// Most attempts authorised by one log entry: fencing tokens are
/// `index << 16 | position`, so the position must fit in 16 bits.
pub const MAX_ATTEMPTS_PER_ENTRY: usize = 1 << 16;
/// Default number of finished occurrences kept per job.
pub const DEFAULT_HISTORY_PER_JOB: u32 = 100;

/// Most occurrences of one job queued behind the one in flight (a
/// `coalesce: all` backlog draining in order); beyond it, instants are skipped.
pub const MAX_QUEUED_PER_JOB: usize = 1000;
