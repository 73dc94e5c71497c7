"""The benchmark scripts run and print their tables (with a tiny budget: the numbers are not checked here)."""

from __future__ import annotations

import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def test_throughput_prints_zoo_against_plain_for_a_family(capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import throughput

    throughput.main(["--families", "autoencoder", "--parts", "steady", "--steps", "2", "--warmup", "1",
                     "--repeats", "1", "--batch-size", "16"])
    table = capsys.readouterr().out
    assert "zoo/plain" in table and "zoo/lightning" in table
    row = next(line for line in table.splitlines() if line.startswith("autoencoder"))
    zoo_rate, plain_rate, ratio = (float(cell) for cell in row.split()[3:6])
    assert zoo_rate > 0 and plain_rate > 0 and abs(ratio - zoo_rate / plain_rate) < 0.05 * ratio
    lightning_over_plain, zoo_over_lightning = (float(cell) for cell in row.split()[-2:])
    # The two factors multiply back to zoo/plain.
    assert abs(lightning_over_plain * zoo_over_lightning - ratio) < 0.05 * ratio
    sys.modules.pop("throughput", None)
