"""The same command twice gives the same run: `--seed_everything N` repeats losses and weights, `--seed` repeats samples."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from tests.data.image_folders import write_unpaired
from zoo.cli import main
from zoo.training.cli import run_cli

QUICK = ["--trainer.max_epochs", "2", "--trainer.limit_train_batches", "3", "--trainer.limit_val_batches", "1",
         "--trainer.num_sanity_val_steps", "0", "--trainer.enable_progress_bar", "false",
         "--trainer.enable_model_summary", "false", "--trainer.log_every_n_steps", "1", "--data.num_workers", "0",
         "--fid.every_n_epochs", "0", "--seed_everything", "7"]


def data_of(model: str, folder: Path) -> list[str]:
    if model != "cyclegan":
        return ["--data", "digits", "--data.batch_size", "16"]
    write_unpaired(folder, count_a=6, count_b=6, size=32)
    return ["--data", "unpaired", "--data.root", str(folder), "--data.image_size", "32", "--data.batch_size", "2",
            "--model.generator_channels", "8", "--model.discriminator_channels", "8", "--model.resnet_blocks", "1"]


def train_losses_and_weights(model: str, folder: Path) -> tuple[list[dict], dict[str, torch.Tensor]]:
    cli = run_cli(["fit", "--model", model, *data_of(model, folder / "data"), *QUICK,
                   "--trainer.default_root_dir", str(folder / "runs")])
    run_dir = Path(cli.trainer.checkpoint_callback.dirpath).parent
    with open(run_dir / "metrics.csv") as handle:
        losses = [{key: value for key, value in row.items() if key.startswith("train/") and value}
                  for row in csv.DictReader(handle)]
    weights = torch.load(cli.trainer.checkpoint_callback.last_model_path, weights_only=True)["state_dict"]
    return [row for row in losses if row], weights


@pytest.mark.parametrize("model", ["autoencoder", "gan", "cyclegan"])
def test_the_same_seed_gives_the_same_losses_and_weights(tmp_path, model):
    first_losses, first_weights = train_losses_and_weights(model, tmp_path / "first")
    second_losses, second_weights = train_losses_and_weights(model, tmp_path / "second")
    assert first_losses and first_losses == second_losses
    for name, weights in first_weights.items():
        assert torch.equal(weights, second_weights[name]), f"{model}: {name} differs between two seeded runs"


def test_zoo_sample_with_a_seed_repeats_its_images(tmp_path):
    cli = run_cli(["fit", "--model", "gan", *data_of("gan", tmp_path), *QUICK,
                   "--trainer.default_root_dir", str(tmp_path / "runs")])
    checkpoint = cli.trainer.checkpoint_callback.last_model_path
    grids = {}
    for name, seed in (("first", "3"), ("again", "3"), ("other", "4")):
        main(["sample", "--ckpt", checkpoint, "-n", "16", "--seed", seed, "--out", str(tmp_path / f"{name}.png")])
        grids[name] = (tmp_path / f"{name}.png").read_bytes()
    assert grids["first"] == grids["again"] and grids["first"] != grids["other"]
