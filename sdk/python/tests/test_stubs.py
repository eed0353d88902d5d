"""The committed stubs are what scripts/gen_proto.py makes from proto/ now."""

from __future__ import annotations

import filecmp
import importlib.util
import sys
from pathlib import Path

import pytest

SDK = Path(__file__).resolve().parent.parent
COMMITTED = SDK / "src" / "schedulerd" / "_proto"


def _load_generator() -> object:
    spec = importlib.util.spec_from_file_location("gen_proto", SDK / "scripts" / "gen_proto.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["gen_proto"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_committed_stubs_match_proto(tmp_path: Path) -> None:
    pytest.importorskip("grpc_tools", reason="grpcio-tools is a test dependency")
    gen = _load_generator()
    written = gen.generate(tmp_path)  # type: ignore[attr-defined]
    assert written, "the generator wrote nothing"
    fresh = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.py*"))
    committed = sorted(
        p.relative_to(COMMITTED) for p in COMMITTED.rglob("*.py*") if "__pycache__" not in p.parts
    )
    assert fresh == committed, "the set of generated files differs: run scripts/gen_proto.py"
    differ = [str(p) for p in fresh if not filecmp.cmp(tmp_path / p, COMMITTED / p, shallow=False)]
    assert not differ, f"stale stubs {differ}: run python sdk/python/scripts/gen_proto.py"


def test_generated_imports_are_package_relative() -> None:
    for path in COMMITTED.rglob("*.py"):
        text = path.read_text()
        assert "from scheduler.v1 import" not in text, path
        assert "import scheduler." not in text, path


def test_stubs_import_with_installed_runtime() -> None:
    from schedulerd._pb import pb, wpb

    assert pb.Run().HasField("exit_code") is False  # optional int32 in the proto
    assert wpb.WorkerHello(slots=3).slots == 3
