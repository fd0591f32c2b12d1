"""The quick soak (`signbridge bench soak --quick --json`): 6 real clips and 3 broken files through the real
Celery cluster while 4 faults are injected (a stored landmarks object cut in half, a throttling store behind a
503 SlowDown proxy, a SIGKILLed worker, a SIGKILLed scheduler). Nothing is lost or corrupted, the outputs equal
a clean embedded run's, each broken file fails with its reason, and no process is left."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed "
                                "(./sb setup installs postgresql and redis-server as root)")


def test_quick_soak_loses_nothing(shared_data, tmp_path):
    res = subprocess.run([sys.executable, "-m", "signbridge.cli", "bench", "soak", "--quick", "--json",
                          "--results", str(tmp_path / "soak.json")], capture_output=True, text=True, timeout=420)
    assert res.stdout.strip(), res.stderr[-4000:]
    out = json.loads(res.stdout)
    assert out["faults_injected"] == 4, (out["faults"], res.stderr[-3000:])
    assert out["clips_ok"] == 6 and out["clips_failed_expected"] == 3, (out["problems"], res.stderr[-3000:])
    assert out["lost"] == 0 and out["corrupted"] == 0 and out["duplicate_or_partial_objects"] == []
    assert out["identical_to_clean"] is True and out["manifest_complete"] is True
    assert out["processes_left"] == 0
    assert len(out["repaired"]) == 1  # the cut landmarks were found and recomputed, and the manifest says so
    assert out["proxy_counts"]["slowdown"] > 0
    assert res.returncode == 0
    assert out["seconds"] < 300, out["seconds"]
