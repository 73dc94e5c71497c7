"""TensorBoard and an explicit CSV logger through the CLI: the same scalars and grids, each in its own form."""

from __future__ import annotations

import csv

from tests.conftest import FAST_TRAINER, copy_run, run_zoo


def test_tensorboard_run_holds_losses_fid_and_the_sample_grid(tmp_path):
    run_zoo(["fit", "--model", "gan", "--data", "digits", *FAST_TRAINER, "--fid.num_samples", "100",
             "--trainer.logger", "TensorBoardLogger"], cwd=tmp_path, timeout=300, in_process=True)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # the dev extra has it

    # `--trainer.logger TensorBoardLogger` alone works, and writes where every zoo run goes.
    run_dir = tmp_path / "runs" / "gan" / "version_0"
    assert list(run_dir.glob("events.out.tfevents.*")), sorted(str(p) for p in tmp_path.rglob("*"))
    assert (run_dir / "checkpoints" / "last.ckpt").exists() and (run_dir / "config.yaml").exists()
    events = EventAccumulator(str(run_dir), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    assert {"val/fid", "val/kid", "val/d_loss", "val/g_loss"} <= set(events.Tags()["scalars"])
    (grid,) = events.Images("samples")
    assert grid.width > 28 and grid.height > 28 and grid.encoded_image_string.startswith(b"\x89PNG")


def test_explicit_csv_logger_needs_no_save_dir_and_a_second_run_gets_a_new_version(tmp_path, trained_runs):
    copy_run(trained_runs("autoencoder"), tmp_path)  # a first run, with the default logger: version_0
    run_zoo(["fit", "--model", "autoencoder", "--data", "digits", *FAST_TRAINER,
             "--trainer.logger", "CSVLogger"], cwd=tmp_path, timeout=300, in_process=True)
    versions = sorted(path.name for path in (tmp_path / "runs" / "autoencoder").iterdir())
    assert versions == ["version_0", "version_1"]
    with open(tmp_path / "runs" / "autoencoder" / "version_1" / "metrics.csv") as file:
        assert "val/psnr" in next(csv.reader(file))


def test_logger_folders_given_by_the_user_are_kept(tmp_path):
    run_zoo(["fit", "--model", "autoencoder", "--data", "digits", *FAST_TRAINER, "--trainer.logger",
             "TensorBoardLogger", "--trainer.logger.save_dir", "tb", "--trainer.logger.name", "mine"],
            cwd=tmp_path, timeout=300, in_process=True)
    assert list((tmp_path / "tb" / "mine" / "version_0").glob("events.out.tfevents.*"))
