"""The benchmarks' way to run the CLI as a user does: ``zoo ARGS`` in a subprocess, quiet, failing loudly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def zoo(*args: str, cwd: Path) -> str:
    result = subprocess.run([sys.executable, "-m", "zoo.cli", *args], cwd=cwd, capture_output=True, text=True,
                            env={**os.environ, "ZOO_QUIET": "1"})
    if result.returncode != 0:
        raise SystemExit(f"zoo {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return result.stdout
