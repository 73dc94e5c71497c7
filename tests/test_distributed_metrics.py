"""Validation over several processes: the same numbers as one process, with no image counted twice.

Lightning's default sampler pads each process's share with repeats of the first images; the
zoo's datamodules shard evaluation splits without repeats, so an odd split on two processes
gives one process a batch more than the other.
"""

from __future__ import annotations

import csv
from types import SimpleNamespace

from lightning.pytorch.strategies import DDPStrategy, DeepSpeedStrategy, FSDPStrategy

from tests.conftest import run_zoo
from tests.data.image_folders import write_images
from zoo.data.base import unrepeated_distributed_sampler

TWO_PROCESSES = ["--trainer.strategy", "ddp", "--trainer.devices", "2", "--trainer.accelerator", "cpu"]
QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]


def nine_validation_images_in_batches_of_4(tmp_path) -> list[str]:
    """--data flags for 45 grey 28x28 images, 9 for validation: one process validates 5 of them, the other 4."""
    write_images(tmp_path / "images", 45, 28, grey=True)
    return ["--data", "folder", "--data.root", str(tmp_path / "images"), "--data.channels", "1",
            "--data.image_size", "28", "--data.val_fraction", "0.2", "--data.batch_size", "4",
            "--data.num_workers", "0"]


def last_validation(run_dir) -> dict[str, float]:
    with open(run_dir / "metrics.csv") as handle:
        rows = [row for row in csv.DictReader(handle) if row.get("val/psnr")]
    return {key: float(value) for key, value in rows[-1].items() if key.startswith("val/") and value}


def test_two_processes_report_the_one_process_validation_metrics(tmp_path):
    data = nine_validation_images_in_batches_of_4(tmp_path)
    results = {}
    for processes, devices in (("one", ["--trainer.devices", "1"]), ("two", TWO_PROCESSES)):
        run_zoo(["validate", "--model", "autoencoder", *data, *devices, *QUIET, "--seed_everything", "0",
                 "--trainer.default_root_dir", processes], cwd=tmp_path)
        results[processes] = last_validation(tmp_path / processes / "autoencoder" / "version_0")
    assert {"val/loss", "val/mse", "val/psnr"} <= set(results["one"])
    for key, value in results["one"].items():
        assert abs(results["two"][key] - value) <= 1e-5 * max(1.0, abs(value)), (key, results)


def test_gan_with_batch_norm_trains_on_after_uneven_validation_shards(tmp_path):
    # DCGAN's batch-norm buffers are what DDP syncs; two epochs cross validation -> training with uneven shards.
    data = nine_validation_images_in_batches_of_4(tmp_path)
    run_zoo(["fit", "--model", "dcgan", *data, *TWO_PROCESSES, *QUIET, "--trainer.max_epochs", "2",
             "--model.generator_features", "8", "--model.discriminator_features", "8",
             "--fid.num_samples", "20", "--fid.batch_size", "10", "--fid.every_n_epochs", "1"],
            cwd=tmp_path, timeout=300)
    run_dir = tmp_path / "runs" / "dcgan" / "version_0"
    with open(run_dir / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert sum(1 for row in rows if row.get("val/fid")) == 2  # FID over 9 real images split 5 / 4
    assert (run_dir / "checkpoints" / "last.ckpt").exists()


def test_only_plain_ddp_shards_evaluation_unevenly():
    def sampler(strategy, world_size=2, global_rank=1, images=9):
        trainer = SimpleNamespace(strategy=strategy, world_size=world_size, global_rank=global_rank)
        return unrepeated_distributed_sampler(list(range(images)), trainer)

    assert list(sampler(DDPStrategy())) == [1, 3, 5, 7]  # rank 0 gets 0, 2, 4, 6, 8: nine images, none twice
    # FSDP and DeepSpeed gather parameters in every forward: a process with a batch less would leave the other waiting.
    deepspeed = DeepSpeedStrategy.__new__(DeepSpeedStrategy)  # a DDPStrategy subclass; __init__ needs deepspeed
    assert sampler(FSDPStrategy()) is None and sampler(deepspeed) is None
    assert sampler(DDPStrategy(), world_size=1, global_rank=0) is None
    assert sampler(DDPStrategy(), images=1) is None  # fewer images than processes: each must get one


def test_predictions_of_two_processes_are_one_file_in_the_data_order(tmp_path):
    """`zoo predict` on two devices, no strategy flag: rank 0 writes the one-process file, row for row."""
    import torch

    data = nine_validation_images_in_batches_of_4(tmp_path)  # and 9 test images: the predict split, 5 / 4
    written = {}
    for processes, devices in (("one", ["--trainer.devices", "1"]), ("two", ["--trainer.devices", "2"])):
        run_zoo(["predict", "--model", "autoencoder", *data, "--data.test_fraction", "0.2", *devices, *QUIET,
                 "--trainer.accelerator", "cpu", "--trainer.default_root_dir", processes], cwd=tmp_path)
        written[processes] = torch.load(tmp_path / processes / "autoencoder" / "version_0" / "predictions.pt")
    assert written["one"].shape == (9, 64)  # the default autoencoder's latent codes, one row per test image
    torch.testing.assert_close(written["two"], written["one"])
