"""A run stopped mid-epoch (a crash, Ctrl-C) keeps every step it trained and resumes from there."""

from __future__ import annotations

import json

import pytest
import torch

from tests.conftest import REPO, run_zoo

TEN_STEP_EPOCH = ["--trainer.max_epochs", "1", "--trainer.limit_train_batches", "10", "--trainer.limit_val_batches", "2",
                  "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
                  "--data.batch_size", "16", "--fid.every_n_epochs", "0"]


@pytest.mark.parametrize(("model", "how"), [("autoencoder", "crash"), ("gan", "ctrl-c")])
def test_run_stopped_mid_epoch_resumes_from_the_step_it_reached(tmp_path, monkeypatch, model, how):
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the CLI imports the stopping callback from tests/
    stop_at_step_3 = json.dumps({"class_path": "tests.interrupting.StopAtStep", "init_args": {"step": 3, "how": how}})
    stopped = run_zoo(["fit", "--model", model, "--data", "digits", *TEN_STEP_EPOCH,
                       "--trainer.callbacks", stop_at_step_3], cwd=tmp_path, check=False)
    assert stopped.returncode != 0
    last = tmp_path / "runs" / model / "version_0" / "checkpoints" / "last.ckpt"
    assert last.exists(), stopped.stderr[-2000:]
    assert f"Resume with --ckpt_path {last.relative_to(tmp_path)}" in stopped.stdout + stopped.stderr
    # Epoch-end checkpoints alone would hold nothing: the stop came at step 3 of a 10-step epoch.
    assert torch.load(last, weights_only=False)["global_step"] == 3
    assert not list(last.parent.glob("*.partial"))

    run_zoo(["fit", "--model", model, "--data", "digits", *TEN_STEP_EPOCH, "--ckpt_path", str(last)], cwd=tmp_path)
    resumed = torch.load(tmp_path / "runs" / model / "version_1" / "checkpoints" / "last.ckpt", weights_only=False)
    assert resumed["global_step"] > 3 and resumed["epoch"] == 0


@pytest.mark.parametrize("model", ["autoencoder", "gan"])
def test_fit_ending_at_max_steps_between_validations_saves_the_final_step(tmp_path, model):
    """`max_steps` reached 2 steps after the last validation: `last.ckpt` holds step 12, not the validation's 10."""
    result = run_zoo(["fit", "--model", model, "--data", "digits", "--data.batch_size", "16",
                      "--trainer.max_steps", "12", "--trainer.val_check_interval", "5",
                      "--trainer.limit_val_batches", "1", "--fid.every_n_epochs", "0",
                      "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"],
                     cwd=tmp_path)
    checkpoints = tmp_path / "runs" / model / "version_0" / "checkpoints"
    assert torch.load(checkpoints / "last.ckpt", weights_only=True)["global_step"] == 12
    assert (checkpoints / "epoch=0-step=10.ckpt").exists()  # the validations' checkpoints are still Lightning's
    assert not list(checkpoints.glob("*.partial"))
    # Lightning's own lines stay, its advertisements and TPU availability do not.
    output = result.stdout + result.stderr
    assert "GPU available" in output and "Tip:" not in output and "TPU available" not in output
