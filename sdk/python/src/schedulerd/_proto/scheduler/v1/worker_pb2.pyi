from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WorkerOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WORKER_OUTCOME_UNSPECIFIED: _ClassVar[WorkerOutcome]
    WORKER_OUTCOME_SUCCEEDED: _ClassVar[WorkerOutcome]
    WORKER_OUTCOME_FAILED: _ClassVar[WorkerOutcome]
    WORKER_OUTCOME_CANCELLED: _ClassVar[WorkerOutcome]

class ResultFate(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RESULT_FATE_UNSPECIFIED: _ClassVar[ResultFate]
    RESULT_FATE_ACCEPTED: _ClassVar[ResultFate]
    RESULT_FATE_STALE: _ClassVar[ResultFate]
WORKER_OUTCOME_UNSPECIFIED: WorkerOutcome
WORKER_OUTCOME_SUCCEEDED: WorkerOutcome
WORKER_OUTCOME_FAILED: WorkerOutcome
WORKER_OUTCOME_CANCELLED: WorkerOutcome
RESULT_FATE_UNSPECIFIED: ResultFate
RESULT_FATE_ACCEPTED: ResultFate
RESULT_FATE_STALE: ResultFate

class WorkerMessage(_message.Message):
    __slots__ = ("hello", "started", "heartbeat", "result")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    hello: WorkerHello
    started: WorkerStarted
    heartbeat: WorkerHeartbeat
    result: WorkerResult
    def __init__(self, hello: _Optional[_Union[WorkerHello, _Mapping]] = ..., started: _Optional[_Union[WorkerStarted, _Mapping]] = ..., heartbeat: _Optional[_Union[WorkerHeartbeat, _Mapping]] = ..., result: _Optional[_Union[WorkerResult, _Mapping]] = ...) -> None: ...

class HeldAttempt(_message.Message):
    __slots__ = ("occurrence_id", "fencing_token")
    OCCURRENCE_ID_FIELD_NUMBER: _ClassVar[int]
    FENCING_TOKEN_FIELD_NUMBER: _ClassVar[int]
    occurrence_id: str
    fencing_token: int
    def __init__(self, occurrence_id: _Optional[str] = ..., fencing_token: _Optional[int] = ...) -> None: ...

class WorkerHello(_message.Message):
    __slots__ = ("worker_id", "queues", "functions", "slots", "held", "description")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    QUEUES_FIELD_NUMBER: _ClassVar[int]
    FUNCTIONS_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    HELD_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    queues: _containers.RepeatedScalarFieldContainer[str]
    functions: _containers.RepeatedScalarFieldContainer[str]
    slots: int
    held: _containers.RepeatedCompositeFieldContainer[HeldAttempt]
    description: str
    def __init__(self, worker_id: _Optional[str] = ..., queues: _Optional[_Iterable[str]] = ..., functions: _Optional[_Iterable[str]] = ..., slots: _Optional[int] = ..., held: _Optional[_Iterable[_Union[HeldAttempt, _Mapping]]] = ..., description: _Optional[str] = ...) -> None: ...

class WorkerStarted(_message.Message):
    __slots__ = ("fencing_token",)
    FENCING_TOKEN_FIELD_NUMBER: _ClassVar[int]
    fencing_token: int
    def __init__(self, fencing_token: _Optional[int] = ...) -> None: ...

class WorkerHeartbeat(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WorkerResult(_message.Message):
    __slots__ = ("occurrence_id", "fencing_token", "outcome", "output")
    OCCURRENCE_ID_FIELD_NUMBER: _ClassVar[int]
    FENCING_TOKEN_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    occurrence_id: str
    fencing_token: int
    outcome: WorkerOutcome
    output: str
    def __init__(self, occurrence_id: _Optional[str] = ..., fencing_token: _Optional[int] = ..., outcome: _Optional[_Union[WorkerOutcome, str]] = ..., output: _Optional[str] = ...) -> None: ...

class NodeMessage(_message.Message):
    __slots__ = ("welcome", "assignment", "cancel", "heartbeat", "result_ack")
    WELCOME_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENT_FIELD_NUMBER: _ClassVar[int]
    CANCEL_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    RESULT_ACK_FIELD_NUMBER: _ClassVar[int]
    welcome: WorkerWelcome
    assignment: WorkerAssignment
    cancel: WorkerCancel
    heartbeat: WorkerHeartbeat
    result_ack: WorkerResultAck
    def __init__(self, welcome: _Optional[_Union[WorkerWelcome, _Mapping]] = ..., assignment: _Optional[_Union[WorkerAssignment, _Mapping]] = ..., cancel: _Optional[_Union[WorkerCancel, _Mapping]] = ..., heartbeat: _Optional[_Union[WorkerHeartbeat, _Mapping]] = ..., result_ack: _Optional[_Union[WorkerResultAck, _Mapping]] = ...) -> None: ...

class WorkerWelcome(_message.Message):
    __slots__ = ("node_id", "lease_ms", "heartbeat_every_ms", "reattached")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    LEASE_MS_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_EVERY_MS_FIELD_NUMBER: _ClassVar[int]
    REATTACHED_FIELD_NUMBER: _ClassVar[int]
    node_id: int
    lease_ms: int
    heartbeat_every_ms: int
    reattached: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, node_id: _Optional[int] = ..., lease_ms: _Optional[int] = ..., heartbeat_every_ms: _Optional[int] = ..., reattached: _Optional[_Iterable[int]] = ...) -> None: ...

class WorkerAssignment(_message.Message):
    __slots__ = ("job_id", "occurrence_id", "scheduled_at", "fencing_token", "attempt", "node_id", "queue", "function", "args", "deadline", "worker_id")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRENCE_ID_FIELD_NUMBER: _ClassVar[int]
    SCHEDULED_AT_FIELD_NUMBER: _ClassVar[int]
    FENCING_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    occurrence_id: str
    scheduled_at: _timestamp_pb2.Timestamp
    fencing_token: int
    attempt: int
    node_id: int
    queue: str
    function: str
    args: str
    deadline: _timestamp_pb2.Timestamp
    worker_id: str
    def __init__(self, job_id: _Optional[str] = ..., occurrence_id: _Optional[str] = ..., scheduled_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., fencing_token: _Optional[int] = ..., attempt: _Optional[int] = ..., node_id: _Optional[int] = ..., queue: _Optional[str] = ..., function: _Optional[str] = ..., args: _Optional[str] = ..., deadline: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., worker_id: _Optional[str] = ...) -> None: ...

class WorkerCancel(_message.Message):
    __slots__ = ("fencing_token", "reason")
    FENCING_TOKEN_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    fencing_token: int
    reason: str
    def __init__(self, fencing_token: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class WorkerResultAck(_message.Message):
    __slots__ = ("fencing_token", "fate", "reason")
    FENCING_TOKEN_FIELD_NUMBER: _ClassVar[int]
    FATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    fencing_token: int
    fate: ResultFate
    reason: str
    def __init__(self, fencing_token: _Optional[int] = ..., fate: _Optional[_Union[ResultFate, str]] = ..., reason: _Optional[str] = ...) -> None: ...

class ListWorkersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WorkerInfo(_message.Message):
    __slots__ = ("worker_id", "node_id", "queues", "functions", "slots", "in_flight", "connected_at", "description")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    QUEUES_FIELD_NUMBER: _ClassVar[int]
    FUNCTIONS_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_AT_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    node_id: int
    queues: _containers.RepeatedScalarFieldContainer[str]
    functions: _containers.RepeatedScalarFieldContainer[str]
    slots: int
    in_flight: int
    connected_at: _timestamp_pb2.Timestamp
    description: str
    def __init__(self, worker_id: _Optional[str] = ..., node_id: _Optional[int] = ..., queues: _Optional[_Iterable[str]] = ..., functions: _Optional[_Iterable[str]] = ..., slots: _Optional[int] = ..., in_flight: _Optional[int] = ..., connected_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., description: _Optional[str] = ...) -> None: ...

class ListWorkersResponse(_message.Message):
    __slots__ = ("workers", "unreachable")
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    UNREACHABLE_FIELD_NUMBER: _ClassVar[int]
    workers: _containers.RepeatedCompositeFieldContainer[WorkerInfo]
    unreachable: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, workers: _Optional[_Iterable[_Union[WorkerInfo, _Mapping]]] = ..., unreachable: _Optional[_Iterable[int]] = ...) -> None: ...
