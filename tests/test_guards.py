"""A NaN in training stops the run in one line, with a checkpoint that still holds finite weights."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import FAST_TRAINER
from zoo.cli import main
from zoo.models.autoencoder import Autoencoder
from zoo.models.gan import GAN

POISONED_BATCH = 2


def poison(batch, batch_idx: int):
    """The batch with one NaN pixel at POISONED_BATCH of the first epoch: that step's loss is NaN."""
    images, labels = batch
    if batch_idx == POISONED_BATCH:
        images = images.clone()
        images[0, 0, 0, 0] = float("nan")
    return images, labels


class PoisonedAutoencoder(Autoencoder):
    def training_step(self, batch, batch_idx):
        return super().training_step(poison(batch, batch_idx if self.current_epoch == 0 else -1), batch_idx)


class PoisonedGAN(GAN):
    def training_step(self, batch, batch_idx):
        return super().training_step(poison(batch, batch_idx if self.current_epoch == 0 else -1), batch_idx)


def fit(tmp_path, model: str, *flags: str):
    argv = ["fit", "--model", f"tests.test_guards.{model}", "--data", "digits", *FAST_TRAINER,
            "--trainer.limit_val_batches", "0", "--trainer.default_root_dir", str(tmp_path), "--fid.every_n_epochs", "0",
            *flags]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    return exit_info.value.code


def finite(checkpoint) -> bool:
    return all(torch.isfinite(value).all() for value in checkpoint["state_dict"].values() if value.is_floating_point())


@pytest.mark.parametrize(("model", "loss"), [("PoisonedAutoencoder", "train/loss"), ("PoisonedGAN", "train/d_loss")])
def test_a_planted_nan_stops_the_run_naming_the_loss_and_keeps_finite_weights(tmp_path, capsys, model, loss):
    assert fit(tmp_path, model) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("zoo: error:")]
    assert len(lines) == 1, err
    assert f"{loss} = nan, non-finite gradients of optimizer " in lines[0] and " at step " in lines[0]
    assert f"batch {POISONED_BATCH}" in lines[0] and "--trainer.precision 32" in lines[0] and "lr" in lines[0]
    assert "Traceback" not in err
    saved = lines[0].split("the weights from before it are in ")[1].split(". Likely")[0]
    checkpoint = torch.load(saved, map_location="cpu", weights_only=True)
    assert finite(checkpoint)
    assert checkpoint["global_step"] > 0  # the steps before the bad one were trained and kept


@pytest.mark.parametrize(("model", "loss"), [("PoisonedGAN", "train/d_loss"), ("PoisonedAutoencoder", "train/loss")])
def test_skip_steps_trains_past_a_bad_batch_with_finite_weights(tmp_path, model, loss):
    # Two epochs: the bad step's NaN in the first epoch's mean loss must not stop the second.
    with pytest.warns(UserWarning, match=rf"skipped a bad training step .*{loss} = nan.* 1 of --nan.skip_steps 1"):
        main(["fit", "--model", f"tests.test_guards.{model}", "--data", "digits", *FAST_TRAINER,
              "--trainer.max_epochs", "2", "--trainer.limit_val_batches", "0",
              "--trainer.default_root_dir", str(tmp_path), "--fid.every_n_epochs", "0",
              "--nan.skip_steps", "1"])  # returns: the run finished
    [last] = tmp_path.glob("**/last.ckpt")
    checkpoint = torch.load(last, map_location="cpu", weights_only=True)
    assert finite(checkpoint)
    assert checkpoint["global_step"] == 8  # every batch of both epochs counted, none lost
