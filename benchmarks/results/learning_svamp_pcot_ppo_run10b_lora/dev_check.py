"""Run 10b's check along the way (PLAN.md): run 10's `dev_check.py` on the checkpoint carried in this folder's
`carry/`, its line appended to this folder's `dev_checks.md`. Run after `session.sh`, alone:

    .venv/bin/python benchmarks/results/learning_svamp_pcot_ppo_run10b_lora/dev_check.py [OUT]   # OUT: /work/exp-out/run10b
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUN_10 = HERE.parent / "learning_svamp_pcot_ppo_run10_lora" / "dev_check.py"

if __name__ == "__main__":
    spec = importlib.util.spec_from_file_location("run10_dev_check", RUN_10)
    run10 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run10)
    run10.main(sys.argv[1] if len(sys.argv) > 1 else "/work/exp-out/run10b", here=HERE)
