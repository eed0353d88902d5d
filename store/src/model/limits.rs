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
/// Longest schedule string (cron, calendar field, phrase), in bytes.
pub const MAX_SCHEDULE_LEN: usize = 1024;
/// Longest interval period (a hundred years). Longer than a policy's
/// [`MAX_DURATION_MS`] on purpose: a period is a schedule, not a wait.
pub const MAX_PERIOD_MS: u64 = 100 * 366 * 86_400_000;
const _: () = assert!(MAX_PERIOD_MS > MAX_DURATION_MS);
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
/// Longest chain of dependent jobs (A, then B after A, then C after B...).
pub const MAX_DEPENDENCY_DEPTH: usize = 8;
/// Most instants one backfill creates.
pub const MAX_BACKFILL: usize = 1000;
/// Largest `pause_after_failures`.
pub const MAX_PAUSE_AFTER_FAILURES: u32 = 1000;
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
/// Largest message a client may send (a job spec is far smaller: its
/// largest parts are a 64 KiB body or args). Peers may send larger ones
/// (append batches, snapshot chunks): [`MAX_PEER_MESSAGE_BYTES`].
pub const MAX_CLIENT_MESSAGE_BYTES: usize = 4 * 1024 * 1024;
/// Largest gRPC message between nodes (append batches, snapshot chunks).
pub const MAX_PEER_MESSAGE_BYTES: usize = 64 * 1024 * 1024;
// A follower forwards a client's write to the leader in one peer message.
const _: () = assert!(MAX_PEER_MESSAGE_BYTES >= MAX_CLIENT_MESSAGE_BYTES);
/// Longest a client request may take on the server (a join waits up to two
/// minutes for the new member to catch up; everything else is far
/// quicker). A client's own `grpc-timeout` is honoured when shorter.
pub const MAX_REQUEST_SECS: u64 = 180;
/// Requests one client connection may have in flight; more wait.
pub const MAX_CONCURRENT_PER_CONNECTION: usize = 256;

/// Most jobs in one list page.
pub const MAX_JOBS_PAGE: usize = 1000;
/// A list page when the client gives no size.
pub const DEFAULT_JOBS_PAGE: usize = 100;
/// Most runs in one listing (and the default).
pub const MAX_RUNS_LISTED: usize = 10_000;
/// The most fire instants one `next_fire_times` call computes.
pub const MAX_NEXT_FIRES: usize = 100;
/// Most instants one `clusterctl schedule next` call prints (computed in
/// the CLI, offline; its `--count` help text says 1-1000).
pub const MAX_PREVIEW_INSTANTS: usize = 1000;

/// Most jobs on one page of the dashboard's `/jobs`.
pub const DASHBOARD_MAX_JOBS_PAGE: usize = 100;
/// Jobs on a page of the dashboard's `/jobs` when not asked.
pub const DASHBOARD_JOBS_PAGE: usize = 50;
/// Runs the dashboard shows as marks per job.
pub const DASHBOARD_MARKS: usize = 20;
/// Runs on one page of a job's history on the dashboard.
pub const DASHBOARD_RUNS_PAGE: usize = 25;
/// Entries in each of the dashboard overview's lists.
pub const DASHBOARD_LIST: usize = 20;
// The dashboard reads through the same listings as the API, whose caps
// would silently cut a larger page.
const _: () = assert!(DASHBOARD_JOBS_PAGE <= DASHBOARD_MAX_JOBS_PAGE);
const _: () = assert!(DASHBOARD_MAX_JOBS_PAGE <= MAX_JOBS_PAGE);
const _: () = assert!(DASHBOARD_RUNS_PAGE <= MAX_RUNS_LISTED);
const _: () = assert!(DASHBOARD_MARKS <= MAX_RUNS_LISTED);
/// Largest dashboard sign-in form accepted, in bytes.
pub const MAX_LOGIN_FORM: usize = 8 * 1024;
/// Entries a member may be behind the leader's log and still count as
/// healthy (status) and get new attempts (assignment).
pub const MAX_HEALTHY_LAG: u64 = 1_000;
/// A follower's lease, in election timeouts: it outlasts an election, so
/// armed runs go ahead while a new leader is elected (the lease's length:
/// docs/guarantees.md, "Exceptions", item 1).
pub const LEASE_ELECTIONS: u64 = 3;
const _: () = assert!(LEASE_ELECTIONS >= 2);
/// Default number of finished occurrences kept per job.
pub const DEFAULT_HISTORY_PER_JOB: u32 = 100;

/// Most occurrences of one job queued behind the one in flight (a
/// `coalesce: all` backlog draining in order); beyond it, instants are skipped.
pub const MAX_QUEUED_PER_JOB: usize = 1000;

/// Most tokens a cluster keeps.
pub const MAX_TOKENS: usize = 1_000;

/// Longest token name (also a certificate's user name).
pub const MAX_TOKEN_NAME: usize = 64;

/// Most queues one worker token may name.
pub const MAX_TOKEN_QUEUES: usize = 64;

/// Most exclusion calendars a cluster keeps.
pub const MAX_CALENDARS: usize = 1_000;
/// Most dates in one calendar.
pub const MAX_CALENDAR_DATES: usize = 1_000;
/// Most date ranges in one calendar.
pub const MAX_CALENDAR_RANGES: usize = 100;
/// Most cron expressions in one calendar.
pub const MAX_CALENDAR_CRONS: usize = 16;
/// Most calendars one job names.
pub const MAX_CALENDARS_PER_JOB: usize = 8;

/// Longest description a worker gives in its session hello, in bytes.
pub const MAX_WORKER_DESCRIPTION: usize = 256;

/// Most bytes of an HTTP job's response body read (and so at most kept as
/// its output tail); the rest is not waited for.
pub const MAX_HTTP_BODY_READ: usize = 64 * 1024;
