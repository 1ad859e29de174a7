"""`llmobs worker` refuses the embedded engine with a clear message: only
the `llmobs up` process may open a chDB directory, and it runs the worker."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT


def test_worker_refuses_chdb(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LLMOBS_DATA_DIR": str(tmp_path)}
    env.pop("LLMOBS_CLICKHOUSE_URL", None)
    out = subprocess.run([sys.executable, "-m", "collector", "worker", "--once"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode == 2
    assert "only be opened by the `llmobs up` process" in out.stderr
    assert not (tmp_path / "clickhouse").exists()
