"""The background import of torch must never race another thread's import of it (issue: an
ImportError from a partially initialised `torch.utils`, then a segfault).

The interleaving that crashed is forced: every torch module import is slowed, so the background
import is still under way when the run log's first flush (made at every publish here) imports
TensorBoard's writer in the loop's thread.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tiny import write_tiny_preset

SLOW_IMPORTS = """
import importlib.abc, sys, time

class SlowTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "torch" or name.startswith("torch."):
            time.sleep(0.003)
        return None

sys.meta_path.insert(0, SlowTorch())
from cockpit.engine import runlog
runlog.RunLog.maybe_flush = lambda self, every_s=0: self.flush()
from cockpit.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_slow_torch_import_does_not_race_the_run_logs_first_flush(tmp_path: Path):
    preset = write_tiny_preset(
        tmp_path / "p.toml",
        dqn={"warmup_steps": 400, "buffer_size": 500},
        run={"total_steps": 500, "eval_freq": 500, "log_interval": 100},
    )
    script = tmp_path / "slow_imports.py"
    script.write_text(SLOW_IMPORTS)
    run_dir = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, str(script), str(preset), "--no-ui", "--run-dir", str(run_dir)],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=Path(__file__).parent,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "finished"
    assert "ImportError" not in done.stdout + done.stderr
