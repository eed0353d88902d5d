from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Coalesce(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COALESCE_UNSPECIFIED: _ClassVar[Coalesce]
    COALESCE_EARLIEST: _ClassVar[Coalesce]
    COALESCE_LATEST: _ClassVar[Coalesce]
    COALESCE_ALL: _ClassVar[Coalesce]

class Overlap(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OVERLAP_UNSPECIFIED: _ClassVar[Overlap]
    OVERLAP_ALLOW: _ClassVar[Overlap]
    OVERLAP_SKIP: _ClassVar[Overlap]
    OVERLAP_BUFFER_ONE: _ClassVar[Overlap]
    OVERLAP_REPLACE: _ClassVar[Overlap]

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATE_UNSPECIFIED: _ClassVar[JobState]
    JOB_STATE_ACTIVE: _ClassVar[JobState]
    JOB_STATE_PAUSED: _ClassVar[JobState]
    JOB_STATE_FINISHED: _ClassVar[JobState]

class OnConflict(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ON_CONFLICT_FAIL: _ClassVar[OnConflict]
    ON_CONFLICT_REPLACE: _ClassVar[OnConflict]
    ON_CONFLICT_KEEP: _ClassVar[OnConflict]

class RunState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RUN_STATE_UNSPECIFIED: _ClassVar[RunState]
    RUN_STATE_ARMED: _ClassVar[RunState]
    RUN_STATE_RUNNING: _ClassVar[RunState]
    RUN_STATE_SUCCEEDED: _ClassVar[RunState]
    RUN_STATE_FAILED: _ClassVar[RunState]
    RUN_STATE_TIMED_OUT: _ClassVar[RunState]
    RUN_STATE_CANCELLED: _ClassVar[RunState]
    RUN_STATE_MISSED: _ClassVar[RunState]
    RUN_STATE_SKIPPED: _ClassVar[RunState]

class NotRunCause(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NOT_RUN_CAUSE_UNSPECIFIED: _ClassVar[NotRunCause]
    NOT_RUN_CAUSE_MISFIRE_GRACE: _ClassVar[NotRunCause]
    NOT_RUN_CAUSE_COALESCED: _ClassVar[NotRunCause]
    NOT_RUN_CAUSE_NO_WORKER: _ClassVar[NotRunCause]
    NOT_RUN_CAUSE_UPDATED: _ClassVar[NotRunCause]
    NOT_RUN_CAUSE_BACKLOG_CUT: _ClassVar[NotRunCause]
    NOT_RUN_CAUSE_MAX_INSTANCES: _ClassVar[NotRunCause]
    NOT_RUN_CAUSE_OVERLAP_SKIP: _ClassVar[NotRunCause]
    NOT_RUN_CAUSE_BUFFER_FULL: _ClassVar[NotRunCause]
    NOT_RUN_CAUSE_BACKLOG_FULL: _ClassVar[NotRunCause]
    NOT_RUN_CAUSE_JOB_REMOVED: _ClassVar[NotRunCause]
    NOT_RUN_CAUSE_REPLACED: _ClassVar[NotRunCause]
    NOT_RUN_CAUSE_DELETED: _ClassVar[NotRunCause]
    NOT_RUN_CAUSE_PAUSED: _ClassVar[NotRunCause]

class EventKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_KIND_UNSPECIFIED: _ClassVar[EventKind]
    EVENT_KIND_JOB_ADDED: _ClassVar[EventKind]
    EVENT_KIND_JOB_MODIFIED: _ClassVar[EventKind]
    EVENT_KIND_JOB_REMOVED: _ClassVar[EventKind]
    EVENT_KIND_OCCURRENCE_ARMED: _ClassVar[EventKind]
    EVENT_KIND_OCCURRENCE_STARTED: _ClassVar[EventKind]
    EVENT_KIND_OCCURRENCE_SUCCEEDED: _ClassVar[EventKind]
    EVENT_KIND_OCCURRENCE_FAILED: _ClassVar[EventKind]
    EVENT_KIND_OCCURRENCE_TIMED_OUT: _ClassVar[EventKind]
    EVENT_KIND_OCCURRENCE_MISSED: _ClassVar[EventKind]
    EVENT_KIND_OCCURRENCE_SKIPPED: _ClassVar[EventKind]
    EVENT_KIND_OCCURRENCE_RETRIED: _ClassVar[EventKind]
    EVENT_KIND_MAX_INSTANCES_REACHED: _ClassVar[EventKind]
    EVENT_KIND_LEADER_CHANGED: _ClassVar[EventKind]
    EVENT_KIND_SCHEDULER_PAUSED: _ClassVar[EventKind]
    EVENT_KIND_SCHEDULER_RESUMED: _ClassVar[EventKind]
    EVENT_KIND_OCCURRENCE_CANCELLED: _ClassVar[EventKind]
COALESCE_UNSPECIFIED: Coalesce
COALESCE_EARLIEST: Coalesce
COALESCE_LATEST: Coalesce
COALESCE_ALL: Coalesce
OVERLAP_UNSPECIFIED: Overlap
OVERLAP_ALLOW: Overlap
OVERLAP_SKIP: Overlap
OVERLAP_BUFFER_ONE: Overlap
OVERLAP_REPLACE: Overlap
JOB_STATE_UNSPECIFIED: JobState
JOB_STATE_ACTIVE: JobState
JOB_STATE_PAUSED: JobState
JOB_STATE_FINISHED: JobState
ON_CONFLICT_FAIL: OnConflict
ON_CONFLICT_REPLACE: OnConflict
ON_CONFLICT_KEEP: OnConflict
RUN_STATE_UNSPECIFIED: RunState
RUN_STATE_ARMED: RunState
RUN_STATE_RUNNING: RunState
RUN_STATE_SUCCEEDED: RunState
RUN_STATE_FAILED: RunState
RUN_STATE_TIMED_OUT: RunState
RUN_STATE_CANCELLED: RunState
RUN_STATE_MISSED: RunState
RUN_STATE_SKIPPED: RunState
NOT_RUN_CAUSE_UNSPECIFIED: NotRunCause
NOT_RUN_CAUSE_MISFIRE_GRACE: NotRunCause
NOT_RUN_CAUSE_COALESCED: NotRunCause
NOT_RUN_CAUSE_NO_WORKER: NotRunCause
NOT_RUN_CAUSE_UPDATED: NotRunCause
NOT_RUN_CAUSE_BACKLOG_CUT: NotRunCause
NOT_RUN_CAUSE_MAX_INSTANCES: NotRunCause
NOT_RUN_CAUSE_OVERLAP_SKIP: NotRunCause
NOT_RUN_CAUSE_BUFFER_FULL: NotRunCause
NOT_RUN_CAUSE_BACKLOG_FULL: NotRunCause
NOT_RUN_CAUSE_JOB_REMOVED: NotRunCause
NOT_RUN_CAUSE_REPLACED: NotRunCause
NOT_RUN_CAUSE_DELETED: NotRunCause
NOT_RUN_CAUSE_PAUSED: NotRunCause
EVENT_KIND_UNSPECIFIED: EventKind
EVENT_KIND_JOB_ADDED: EventKind
EVENT_KIND_JOB_MODIFIED: EventKind
EVENT_KIND_JOB_REMOVED: EventKind
EVENT_KIND_OCCURRENCE_ARMED: EventKind
EVENT_KIND_OCCURRENCE_STARTED: EventKind
EVENT_KIND_OCCURRENCE_SUCCEEDED: EventKind
EVENT_KIND_OCCURRENCE_FAILED: EventKind
EVENT_KIND_OCCURRENCE_TIMED_OUT: EventKind
EVENT_KIND_OCCURRENCE_MISSED: EventKind
EVENT_KIND_OCCURRENCE_SKIPPED: EventKind
EVENT_KIND_OCCURRENCE_RETRIED: EventKind
EVENT_KIND_MAX_INSTANCES_REACHED: EventKind
EVENT_KIND_LEADER_CHANGED: EventKind
EVENT_KIND_SCHEDULER_PAUSED: EventKind
EVENT_KIND_SCHEDULER_RESUMED: EventKind
EVENT_KIND_OCCURRENCE_CANCELLED: EventKind

class JobSpec(_message.Message):
    __slots__ = ("id", "name", "labels", "schedule", "time_zone", "start_at", "end_at", "paused", "executor", "policies", "node_selector", "exclude_calendars")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class NodeSelectorEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    START_AT_FIELD_NUMBER: _ClassVar[int]
    END_AT_FIELD_NUMBER: _ClassVar[int]
    PAUSED_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_FIELD_NUMBER: _ClassVar[int]
    POLICIES_FIELD_NUMBER: _ClassVar[int]
    NODE_SELECTOR_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_CALENDARS_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    labels: _containers.ScalarMap[str, str]
    schedule: Schedule
    time_zone: str
    start_at: _timestamp_pb2.Timestamp
    end_at: _timestamp_pb2.Timestamp
    paused: bool
    executor: Executor
    policies: Policies
    node_selector: _containers.ScalarMap[str, str]
    exclude_calendars: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., schedule: _Optional[_Union[Schedule, _Mapping]] = ..., time_zone: _Optional[str] = ..., start_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., end_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., paused: bool = ..., executor: _Optional[_Union[Executor, _Mapping]] = ..., policies: _Optional[_Union[Policies, _Mapping]] = ..., node_selector: _Optional[_Mapping[str, str]] = ..., exclude_calendars: _Optional[_Iterable[str]] = ...) -> None: ...

class Schedule(_message.Message):
    __slots__ = ("cron", "calendar", "interval", "once", "human", "after")
    CRON_FIELD_NUMBER: _ClassVar[int]
    CALENDAR_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    ONCE_FIELD_NUMBER: _ClassVar[int]
    HUMAN_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    cron: str
    calendar: CalendarFields
    interval: IntervalSchedule
    once: _timestamp_pb2.Timestamp
    human: str
    after: AfterJob
    def __init__(self, cron: _Optional[str] = ..., calendar: _Optional[_Union[CalendarFields, _Mapping]] = ..., interval: _Optional[_Union[IntervalSchedule, _Mapping]] = ..., once: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., human: _Optional[str] = ..., after: _Optional[_Union[AfterJob, _Mapping]] = ...) -> None: ...

class AfterJob(_message.Message):
    __slots__ = ("job_id", "on_finished")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    ON_FINISHED_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    on_finished: bool
    def __init__(self, job_id: _Optional[str] = ..., on_finished: bool = ...) -> None: ...

class CalendarFields(_message.Message):
    __slots__ = ("year", "month", "day", "week", "day_of_week", "hour", "minute", "second")
    YEAR_FIELD_NUMBER: _ClassVar[int]
    MONTH_FIELD_NUMBER: _ClassVar[int]
    DAY_FIELD_NUMBER: _ClassVar[int]
    WEEK_FIELD_NUMBER: _ClassVar[int]
    DAY_OF_WEEK_FIELD_NUMBER: _ClassVar[int]
    HOUR_FIELD_NUMBER: _ClassVar[int]
    MINUTE_FIELD_NUMBER: _ClassVar[int]
    SECOND_FIELD_NUMBER: _ClassVar[int]
    year: str
    month: str
    day: str
    week: str
    day_of_week: str
    hour: str
    minute: str
    second: str
    def __init__(self, year: _Optional[str] = ..., month: _Optional[str] = ..., day: _Optional[str] = ..., week: _Optional[str] = ..., day_of_week: _Optional[str] = ..., hour: _Optional[str] = ..., minute: _Optional[str] = ..., second: _Optional[str] = ...) -> None: ...

class IntervalSchedule(_message.Message):
    __slots__ = ("every", "every_max", "anchor")
    EVERY_FIELD_NUMBER: _ClassVar[int]
    EVERY_MAX_FIELD_NUMBER: _ClassVar[int]
    ANCHOR_FIELD_NUMBER: _ClassVar[int]
    every: _duration_pb2.Duration
    every_max: _duration_pb2.Duration
    anchor: _timestamp_pb2.Timestamp
    def __init__(self, every: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., every_max: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., anchor: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RetryPolicy(_message.Message):
    __slots__ = ("max_retries", "initial_backoff", "max_backoff", "multiplier")
    MAX_RETRIES_FIELD_NUMBER: _ClassVar[int]
    INITIAL_BACKOFF_FIELD_NUMBER: _ClassVar[int]
    MAX_BACKOFF_FIELD_NUMBER: _ClassVar[int]
    MULTIPLIER_FIELD_NUMBER: _ClassVar[int]
    max_retries: int
    initial_backoff: _duration_pb2.Duration
    max_backoff: _duration_pb2.Duration
    multiplier: float
    def __init__(self, max_retries: _Optional[int] = ..., initial_backoff: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., max_backoff: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., multiplier: _Optional[float] = ...) -> None: ...

class Policies(_message.Message):
    __slots__ = ("misfire_grace", "coalesce", "overlap", "max_instances", "retries", "timeout", "jitter", "max_runs", "pause_after_failures")
    MISFIRE_GRACE_FIELD_NUMBER: _ClassVar[int]
    COALESCE_FIELD_NUMBER: _ClassVar[int]
    OVERLAP_FIELD_NUMBER: _ClassVar[int]
    MAX_INSTANCES_FIELD_NUMBER: _ClassVar[int]
    RETRIES_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    JITTER_FIELD_NUMBER: _ClassVar[int]
    MAX_RUNS_FIELD_NUMBER: _ClassVar[int]
    PAUSE_AFTER_FAILURES_FIELD_NUMBER: _ClassVar[int]
    misfire_grace: _duration_pb2.Duration
    coalesce: Coalesce
    overlap: Overlap
    max_instances: int
    retries: RetryPolicy
    timeout: _duration_pb2.Duration
    jitter: _duration_pb2.Duration
    max_runs: int
    pause_after_failures: int
    def __init__(self, misfire_grace: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., coalesce: _Optional[_Union[Coalesce, str]] = ..., overlap: _Optional[_Union[Overlap, str]] = ..., max_instances: _Optional[int] = ..., retries: _Optional[_Union[RetryPolicy, _Mapping]] = ..., timeout: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., jitter: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., max_runs: _Optional[int] = ..., pause_after_failures: _Optional[int] = ...) -> None: ...

class Executor(_message.Message):
    __slots__ = ("shell", "http", "worker")
    SHELL_FIELD_NUMBER: _ClassVar[int]
    HTTP_FIELD_NUMBER: _ClassVar[int]
    WORKER_FIELD_NUMBER: _ClassVar[int]
    shell: ShellExecutor
    http: HttpExecutor
    worker: WorkerExecutor
    def __init__(self, shell: _Optional[_Union[ShellExecutor, _Mapping]] = ..., http: _Optional[_Union[HttpExecutor, _Mapping]] = ..., worker: _Optional[_Union[WorkerExecutor, _Mapping]] = ...) -> None: ...

class WorkerExecutor(_message.Message):
    __slots__ = ("queue", "function", "args")
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    queue: str
    function: str
    args: str
    def __init__(self, queue: _Optional[str] = ..., function: _Optional[str] = ..., args: _Optional[str] = ...) -> None: ...

class ShellExecutor(_message.Message):
    __slots__ = ("argv", "command", "env", "working_dir")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ARGV_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    WORKING_DIR_FIELD_NUMBER: _ClassVar[int]
    argv: _containers.RepeatedScalarFieldContainer[str]
    command: str
    env: _containers.ScalarMap[str, str]
    working_dir: str
    def __init__(self, argv: _Optional[_Iterable[str]] = ..., command: _Optional[str] = ..., env: _Optional[_Mapping[str, str]] = ..., working_dir: _Optional[str] = ...) -> None: ...

class Header(_message.Message):
    __slots__ = ("name", "value")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: str
    def __init__(self, name: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class HttpExecutor(_message.Message):
    __slots__ = ("method", "url", "headers", "body", "success_codes")
    METHOD_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_CODES_FIELD_NUMBER: _ClassVar[int]
    method: str
    url: str
    headers: _containers.RepeatedCompositeFieldContainer[Header]
    body: bytes
    success_codes: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, method: _Optional[str] = ..., url: _Optional[str] = ..., headers: _Optional[_Iterable[_Union[Header, _Mapping]]] = ..., body: _Optional[bytes] = ..., success_codes: _Optional[_Iterable[int]] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("spec", "version", "created_at", "updated_at", "next_fire_at", "run_count", "state", "pause_reason", "failing_occurrences", "created_by", "updated_by")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    NEXT_FIRE_AT_FIELD_NUMBER: _ClassVar[int]
    RUN_COUNT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PAUSE_REASON_FIELD_NUMBER: _ClassVar[int]
    FAILING_OCCURRENCES_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    UPDATED_BY_FIELD_NUMBER: _ClassVar[int]
    spec: JobSpec
    version: int
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    next_fire_at: _timestamp_pb2.Timestamp
    run_count: int
    state: JobState
    pause_reason: str
    failing_occurrences: _containers.RepeatedScalarFieldContainer[str]
    created_by: str
    updated_by: str
    def __init__(self, spec: _Optional[_Union[JobSpec, _Mapping]] = ..., version: _Optional[int] = ..., created_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., next_fire_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., run_count: _Optional[int] = ..., state: _Optional[_Union[JobState, str]] = ..., pause_reason: _Optional[str] = ..., failing_occurrences: _Optional[_Iterable[str]] = ..., created_by: _Optional[str] = ..., updated_by: _Optional[str] = ...) -> None: ...

class CreateJobRequest(_message.Message):
    __slots__ = ("job", "on_conflict")
    JOB_FIELD_NUMBER: _ClassVar[int]
    ON_CONFLICT_FIELD_NUMBER: _ClassVar[int]
    job: JobSpec
    on_conflict: OnConflict
    def __init__(self, job: _Optional[_Union[JobSpec, _Mapping]] = ..., on_conflict: _Optional[_Union[OnConflict, str]] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("labels", "page_size", "page_token")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    LABELS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    labels: _containers.ScalarMap[str, str]
    page_size: int
    page_token: str
    def __init__(self, labels: _Optional[_Mapping[str, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs", "next_page_token")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    next_page_token: str
    def __init__(self, jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateJobRequest(_message.Message):
    __slots__ = ("job", "expected_version")
    JOB_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    job: JobSpec
    expected_version: int
    def __init__(self, job: _Optional[_Union[JobSpec, _Mapping]] = ..., expected_version: _Optional[int] = ...) -> None: ...

class DeleteJobRequest(_message.Message):
    __slots__ = ("id", "expected_version")
    ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    id: str
    expected_version: int
    def __init__(self, id: _Optional[str] = ..., expected_version: _Optional[int] = ...) -> None: ...

class DeleteJobResponse(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class PauseRequest(_message.Message):
    __slots__ = ("job_id", "labels", "scheduler")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    SCHEDULER_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    labels: LabelSelector
    scheduler: bool
    def __init__(self, job_id: _Optional[str] = ..., labels: _Optional[_Union[LabelSelector, _Mapping]] = ..., scheduler: bool = ...) -> None: ...

class LabelSelector(_message.Message):
    __slots__ = ("match",)
    class MatchEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    MATCH_FIELD_NUMBER: _ClassVar[int]
    match: _containers.ScalarMap[str, str]
    def __init__(self, match: _Optional[_Mapping[str, str]] = ...) -> None: ...

class PauseResponse(_message.Message):
    __slots__ = ("affected",)
    AFFECTED_FIELD_NUMBER: _ClassVar[int]
    affected: int
    def __init__(self, affected: _Optional[int] = ...) -> None: ...

class RunJobNowRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class Run(_message.Message):
    __slots__ = ("job_id", "occurrence_id", "scheduled_at", "attempt", "fencing_token", "node_id", "state", "started_at", "finished_at", "exit_code", "reason", "output_tail", "due_at", "attempts", "cause")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRENCE_ID_FIELD_NUMBER: _ClassVar[int]
    SCHEDULED_AT_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    FENCING_TOKEN_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TAIL_FIELD_NUMBER: _ClassVar[int]
    DUE_AT_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    CAUSE_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    occurrence_id: str
    scheduled_at: _timestamp_pb2.Timestamp
    attempt: int
    fencing_token: int
    node_id: int
    state: RunState
    started_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    exit_code: int
    reason: str
    output_tail: str
    due_at: _timestamp_pb2.Timestamp
    attempts: _containers.RepeatedCompositeFieldContainer[Attempt]
    cause: NotRunCause
    def __init__(self, job_id: _Optional[str] = ..., occurrence_id: _Optional[str] = ..., scheduled_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., attempt: _Optional[int] = ..., fencing_token: _Optional[int] = ..., node_id: _Optional[int] = ..., state: _Optional[_Union[RunState, str]] = ..., started_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., exit_code: _Optional[int] = ..., reason: _Optional[str] = ..., output_tail: _Optional[str] = ..., due_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., attempts: _Optional[_Iterable[_Union[Attempt, _Mapping]]] = ..., cause: _Optional[_Union[NotRunCause, str]] = ...) -> None: ...

class Attempt(_message.Message):
    __slots__ = ("number", "fencing_token", "node_id", "state", "due_at", "started_at", "finished_at", "exit_code")
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    FENCING_TOKEN_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    DUE_AT_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    number: int
    fencing_token: int
    node_id: int
    state: str
    due_at: _timestamp_pb2.Timestamp
    started_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    exit_code: int
    def __init__(self, number: _Optional[int] = ..., fencing_token: _Optional[int] = ..., node_id: _Optional[int] = ..., state: _Optional[str] = ..., due_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., started_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., exit_code: _Optional[int] = ...) -> None: ...

class BackfillJobRequest(_message.Message):
    __slots__ = ("id", "to")
    ID_FIELD_NUMBER: _ClassVar[int]
    FROM_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    id: str
    to: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., to: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., **kwargs) -> None: ...

class BackfillJobResponse(_message.Message):
    __slots__ = ("created", "existing")
    CREATED_FIELD_NUMBER: _ClassVar[int]
    EXISTING_FIELD_NUMBER: _ClassVar[int]
    created: int
    existing: int
    def __init__(self, created: _Optional[int] = ..., existing: _Optional[int] = ...) -> None: ...

class ListRunsRequest(_message.Message):
    __slots__ = ("job_id", "since", "until", "state", "limit")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    since: _timestamp_pb2.Timestamp
    until: _timestamp_pb2.Timestamp
    state: RunState
    limit: int
    def __init__(self, job_id: _Optional[str] = ..., since: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., until: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., state: _Optional[_Union[RunState, str]] = ..., limit: _Optional[int] = ...) -> None: ...

class ListRunsResponse(_message.Message):
    __slots__ = ("runs",)
    RUNS_FIELD_NUMBER: _ClassVar[int]
    runs: _containers.RepeatedCompositeFieldContainer[Run]
    def __init__(self, runs: _Optional[_Iterable[_Union[Run, _Mapping]]] = ...) -> None: ...

class WatchEventsRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("kind", "at", "job_id", "occurrence_id", "node_id", "log_index", "detail", "cause", "by")
    KIND_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRENCE_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    LOG_INDEX_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    CAUSE_FIELD_NUMBER: _ClassVar[int]
    BY_FIELD_NUMBER: _ClassVar[int]
    kind: EventKind
    at: _timestamp_pb2.Timestamp
    job_id: str
    occurrence_id: str
    node_id: int
    log_index: int
    detail: str
    cause: NotRunCause
    by: str
    def __init__(self, kind: _Optional[_Union[EventKind, str]] = ..., at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., job_id: _Optional[str] = ..., occurrence_id: _Optional[str] = ..., node_id: _Optional[int] = ..., log_index: _Optional[int] = ..., detail: _Optional[str] = ..., cause: _Optional[_Union[NotRunCause, str]] = ..., by: _Optional[str] = ...) -> None: ...

class StatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Member(_message.Message):
    __slots__ = ("id", "addr", "voter", "state", "last_log_index", "applied_index", "lag", "healthy")
    ID_FIELD_NUMBER: _ClassVar[int]
    ADDR_FIELD_NUMBER: _ClassVar[int]
    VOTER_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    LAST_LOG_INDEX_FIELD_NUMBER: _ClassVar[int]
    APPLIED_INDEX_FIELD_NUMBER: _ClassVar[int]
    LAG_FIELD_NUMBER: _ClassVar[int]
    HEALTHY_FIELD_NUMBER: _ClassVar[int]
    id: int
    addr: str
    voter: bool
    state: str
    last_log_index: int
    applied_index: int
    lag: int
    healthy: bool
    def __init__(self, id: _Optional[int] = ..., addr: _Optional[str] = ..., voter: bool = ..., state: _Optional[str] = ..., last_log_index: _Optional[int] = ..., applied_index: _Optional[int] = ..., lag: _Optional[int] = ..., healthy: bool = ...) -> None: ...

class ClusterStatus(_message.Message):
    __slots__ = ("leader", "term", "members", "answered_by", "membership_changing")
    LEADER_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    ANSWERED_BY_FIELD_NUMBER: _ClassVar[int]
    MEMBERSHIP_CHANGING_FIELD_NUMBER: _ClassVar[int]
    leader: int
    term: int
    members: _containers.RepeatedCompositeFieldContainer[Member]
    answered_by: int
    membership_changing: bool
    def __init__(self, leader: _Optional[int] = ..., term: _Optional[int] = ..., members: _Optional[_Iterable[_Union[Member, _Mapping]]] = ..., answered_by: _Optional[int] = ..., membership_changing: bool = ...) -> None: ...

class AddMemberRequest(_message.Message):
    __slots__ = ("id", "addr")
    ID_FIELD_NUMBER: _ClassVar[int]
    ADDR_FIELD_NUMBER: _ClassVar[int]
    id: int
    addr: str
    def __init__(self, id: _Optional[int] = ..., addr: _Optional[str] = ...) -> None: ...

class RemoveMemberRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: int
    def __init__(self, id: _Optional[int] = ...) -> None: ...
