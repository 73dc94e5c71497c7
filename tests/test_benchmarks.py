"""The benchmark scripts run and print their tables (with a tiny budget: the numbers are not checked here)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

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


def test_throughput_refuses_to_count_batches_an_epoch_does_not_hold(monkeypatch):
    """4,000 training digits make 4 batches of 1,000: 5 timed batches after 1 cannot be measured in one epoch."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import throughput

    try:
        with pytest.raises(SystemExit, match="the epoch ended after 3 timed batches, not --steps 5"):
            throughput.main(["--families", "autoencoder", "--parts", "steady", "--steps", "5", "--warmup", "1",
                             "--repeats", "1", "--batch-size", "1000"])
    finally:
        sys.modules.pop("throughput", None)


def test_make_bench_runs_every_benchmark_script():
    """A script added to benchmarks/ is in `make bench` (BENCH_RUNS), and every listed one exists."""
    import re

    makefile = (BENCHMARKS.parent / "Makefile").read_text()
    listed = set(re.findall(r'^\t"(\w+\.py)[^"]*"', makefile, flags=re.MULTILINE))
    scripts = {path.name for path in BENCHMARKS.glob("*.py") if 'if __name__ == "__main__":' in path.read_text()}
    assert listed == scripts, (f"in benchmarks/ but not in make bench: {sorted(scripts - listed)}; "
                               f"listed but missing: {sorted(listed - scripts)}")


def test_a_quick_results_run_prints_its_row_and_writes_nothing(capsys, monkeypatch):
    """`quality.py --quick` (make bench's smoke budget) leaves the results, the page and the model pictures alone."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import quality

    written = [quality.RESULTS, quality.PAGE, quality.REGISTRY, quality.PICTURES / "pix2pix.png"]
    before = [path.read_bytes() for path in written]
    try:
        quality.main(["--quick", "--rows", "super_resolution", "--scales", "2"])
    finally:
        sys.modules.pop("quality", None)
    assert '"pix2pix_psnr"' in capsys.readouterr().out
    assert [path.read_bytes() for path in written] == before


def test_a_quick_gan_row_measures_fid_and_kid_at_each_checkpoint_and_writes_nothing(capsys, monkeypatch):
    """`--rows gan_fid --gan-runs FAMILY ...`: one process per run, each measured from its step checkpoints."""
    import json

    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import quality

    written = [quality.RESULTS, quality.PAGE, quality.REGISTRY, quality.PICTURES / "wgan.png"]
    before = [path.read_bytes() for path in written]
    try:
        quality.main(["--quick", "--rows", "gan_fid", "--gan-runs", "wgan", "reference"])
    finally:
        sys.modules.pop("quality", None)
    rows = json.loads(capsys.readouterr().out)["gan_fid"]
    assert set(rows) == {"wgan", "reference"}
    for row in rows.values():  # quick budget: 4 generator steps, measured every 2
        assert set(row["fid"]) == set(row["kid"]) == {"2", "4"} and row["steps"] == 4 and row["seconds"] > 0
    assert rows["wgan"]["command"] == "zoo fit --config configs/wgan.yaml --trainer.max_steps 4"
    assert [path.read_bytes() for path in written] == before
