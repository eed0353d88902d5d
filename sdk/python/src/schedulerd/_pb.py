"""The generated messages and stubs, under short names."""

from __future__ import annotations

from ._proto.scheduler.v1 import calendar_pb2 as cpb
from ._proto.scheduler.v1 import calendar_pb2_grpc as cpb_grpc
from ._proto.scheduler.v1 import scheduler_pb2 as pb
from ._proto.scheduler.v1 import scheduler_pb2_grpc as pb_grpc
from ._proto.scheduler.v1 import worker_pb2 as wpb
from ._proto.scheduler.v1 import worker_pb2_grpc as wpb_grpc

__all__ = ["cpb", "cpb_grpc", "pb", "pb_grpc", "wpb", "wpb_grpc"]
