"""A run stopped mid-epoch (a crash, Ctrl-C) keeps every step it trained and resumes from there."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

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

    run_zoo(["fit", "--model", model, "--data", "digits", *TEN_STEP_EPOCH, "--ckpt_path", str(last)],
            cwd=tmp_path, in_process=True)
    resumed = torch.load(tmp_path / "runs" / model / "version_1" / "checkpoints" / "last.ckpt", weights_only=False)
    assert resumed["global_step"] == 10 and resumed["epoch"] == 0  # the planned 10-step epoch, finished


def test_the_same_command_with_ckpt_path_last_starts_afresh_then_resumes_the_newest_run(tmp_path, monkeypatch):
    """A requeued job runs its command line again: `--ckpt_path last` must mean this model's newest last.ckpt.

    Lightning's own `last` looks in the new run's folder, always empty here (a fresh version_N per run), and
    the second run would have trained from step 0 again.
    """
    import warnings

    monkeypatch.setenv("PYTHONPATH", str(REPO))
    command = ["fit", "--model", "gan", "--data", "digits", *TEN_STEP_EPOCH, "--ckpt_path", "last"]
    stop_at_step_3 = json.dumps({"class_path": "tests.interrupting.StopAtStep",
                                 "init_args": {"step": 3, "how": "crash"}})
    first = run_zoo([*command, "--trainer.callbacks", stop_at_step_3], cwd=tmp_path, check=False)
    assert "zoo: --ckpt_path last: no last.ckpt of any gan run under runs/gan yet; training from the start" in first.stderr
    assert "`weights_only` was not set" not in first.stderr  # Lightning's note when a save does not say
    assert torch.load(tmp_path / "runs/gan/version_0/checkpoints/last.ckpt", weights_only=False)["global_step"] == 3

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_zoo(command, cwd=tmp_path, in_process=True)
    resumed = torch.load(tmp_path / "runs/gan/version_1/checkpoints/last.ckpt", weights_only=False)
    assert resumed["global_step"] == 10  # steps 4 to 10 of the planned epoch, not 10 more from the start
    assert not [str(warning.message) for warning in caught if "dirpath" in str(warning.message)]


def test_ckpt_path_last_takes_only_the_checkpoints_of_the_model_asked_for(tmp_path, capsys):
    """Runs of several models can share a folder (a W&B project, a logger name): `last` means this model's newest."""
    from tests.conftest import FAST_TRAINER, zoo_in_process

    shared = ["--trainer.logger", "CSVLogger", "--trainer.logger.name", "shared"]
    run_zoo(["fit", "--model", "gan", "--data", "digits", *FAST_TRAINER, *shared], cwd=tmp_path, in_process=True)
    assert (tmp_path / "runs/shared/version_0/checkpoints/last.ckpt").exists()
    refused = zoo_in_process(["test", "--model", "vae", "--data", "digits", *FAST_TRAINER, *shared,
                              "--ckpt_path", "last"], tmp_path, capsys)
    assert refused.returncode == 2
    assert "zoo: error: --ckpt_path last: no last.ckpt of any vae run under runs/shared to test" in refused.stderr


def slurm_job(job_id: str, fake_bin: Path) -> dict[str, str]:
    """The variables `srun` gives a one-task job, and a PATH whose `scontrol` stands in for SLURM's."""
    return {"SLURM_NTASKS": "1", "SLURM_NTASKS_PER_NODE": "1", "SLURM_NNODES": "1", "SLURM_PROCID": "0",
            "SLURM_LOCALID": "0", "SLURM_NODEID": "0", "SLURM_JOB_ID": job_id, "SLURM_JOB_NAME": "zoo",
            "SLURM_NODELIST": "127.0.0.1", "PATH": f"{fake_bin}{os.pathsep}{os.environ['PATH']}"}


def test_a_preempted_slurm_job_resumes_its_own_checkpoint_and_no_other_job_does(tmp_path, monkeypatch):
    """SLURM's warning signal makes Lightning save hpc_ckpt_N.ckpt and requeue the job; the requeued job (same id)
    resumes from it. Lightning saves it into default_root_dir, the shared runs/ of every model and job, and resumes
    the newest it finds there: a stale one from another job must not be loaded by this one."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    # `scontrol requeue ID` ends the running job with SIGTERM (and queues it again): recorded, then done here.
    (fake_bin / "scontrol").write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/scontrol.log\nkill -TERM $PPID\n')
    (fake_bin / "scontrol").chmod(0o755)
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    stale = tmp_path / "runs" / "hpc_ckpt_1.ckpt"  # where Lightning would have put another job's, before
    stale.parent.mkdir()
    stale.write_bytes(b"a pre-emption checkpoint of some other job")
    command = ["fit", "--model", "gan", "--data", "digits", *TEN_STEP_EPOCH]
    warn_at_step_3 = json.dumps({"class_path": "tests.interrupting.SignalAtStep",
                                 "init_args": {"step": 3, "signal_name": "SIGUSR1"}})
    for name, value in slurm_job("77", fake_bin).items():
        monkeypatch.setenv(name, value)
    preempted = run_zoo([*command, "--trainer.callbacks", warn_at_step_3], cwd=tmp_path, check=False)
    assert preempted.returncode == 143, preempted.stderr[-2000:]  # ended by the requeue's SIGTERM
    assert (tmp_path / "scontrol.log").read_text() == "requeue 77\n"
    own = tmp_path / "runs" / "gan" / "slurm-77" / "hpc_ckpt_1.ckpt"
    assert torch.load(own, weights_only=False)["global_step"] == 3

    requeued = run_zoo(command, cwd=tmp_path)  # SLURM runs the same batch script again, with the same job id
    assert f"Restoring states from the checkpoint path at {own.relative_to(tmp_path)}" in requeued.stderr
    finished = torch.load(tmp_path / "runs/gan/version_1/checkpoints/last.ckpt", weights_only=False)
    assert finished["global_step"] == 10 and finished["epoch"] == 0  # the planned epoch, from step 3 on

    monkeypatch.setenv("SLURM_JOB_ID", "78")  # a new job in the same folder starts from scratch
    fresh = run_zoo(command, cwd=tmp_path)
    assert "Restoring states" not in fresh.stderr


def test_a_slurm_runs_config_run_again_under_another_job_does_not_nest_folders(tmp_path, monkeypatch):
    """config.yaml records the job's folder as default_root_dir; `zoo fit --config` of it in a new job must not
    write runs/gan/slurm-77/gan/slurm-78."""
    from jsonargparse import Namespace

    from zoo.models.gan import GAN
    from zoo.training.run_output import keep_preemption_checkpoints_apart

    for name, value in slurm_job("78", tmp_path).items():
        monkeypatch.setenv(name, value)
    trainer_config = Namespace(default_root_dir="runs/gan/slurm-77")
    keep_preemption_checkpoints_apart(trainer_config, GAN)
    assert trainer_config.default_root_dir == str(Path("runs/gan/slurm-78"))


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
    # The validations at steps 5 and 10 came seconds apart: their checkpoints were put off (RunCheckpoint's
    # min_seconds_between_saves) and written, Lightning's way, at the step the fit ended at.
    assert [path.name for path in checkpoints.glob("epoch=*.ckpt")] == ["epoch=0-step=12.ckpt"]
    assert not list(checkpoints.glob("*.partial"))
    # Lightning's own lines stay, its advertisements and TPU availability do not.
    output = result.stdout + result.stderr
    assert "GPU available" in output and "Tip:" not in output and "TPU available" not in output


def start_zoo(args: list[str], cwd: Path) -> subprocess.Popen:
    """``zoo ARGS`` in its own session, as a terminal or a scheduler starts it (so a signal can reach its group)."""
    return subprocess.Popen([sys.executable, "-m", "zoo.cli", *args], cwd=cwd, start_new_session=True, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def wait_for_files(paths: list[Path], process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not all(path.exists() for path in paths):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"the run never reached the waiting step:\n{process.communicate()[0][-3000:]}")
        time.sleep(0.1)


@pytest.mark.parametrize(("signal_name", "exit_status", "processes"),
                         [("SIGTERM", 143, 1), ("SIGINT", 130, 1), ("SIGTERM", 143, 2), ("SIGINT", 130, 2)])
def test_a_real_signal_mid_epoch_saves_the_step_and_exits_as_shells_expect(tmp_path, monkeypatch, signal_name,
                                                                            exit_status, processes, trained_runs):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    wait_at_3 = json.dumps({"class_path": "tests.interrupting.WaitForSignal",
                            "init_args": {"step": 3, "folder": str(tmp_path)}})
    devices = ["--trainer.devices", str(processes), "--trainer.accelerator", "cpu", "--data.num_workers", "0"]
    run = start_zoo(["fit", "--model", "autoencoder", "--data", "digits", *TEN_STEP_EPOCH, *devices,
                     "--trainer.callbacks", wait_at_3], cwd=tmp_path)
    wait_for_files([tmp_path / f"rank{rank}.reached" for rank in range(processes)], run)
    if signal_name == "SIGINT":
        os.killpg(run.pid, signal.SIGINT)  # Ctrl-C in a terminal reaches every process of the group
    else:
        os.kill(run.pid, signal.SIGTERM)  # a scheduler's pre-emption; Lightning passes it on to its other processes
    output = run.communicate(timeout=120)[0]
    assert run.returncode == exit_status, output[-3000:]
    last = tmp_path / "runs" / "autoencoder" / "version_0" / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["global_step"] == 3, output[-3000:]
    assert "Resume with --ckpt_path" in output

    run_zoo(["fit", "--model", "autoencoder", "--data", "digits", *TEN_STEP_EPOCH, "--data.num_workers", "0",
             "--ckpt_path", str(last)], cwd=tmp_path, in_process=True)
    resumed = torch.load(tmp_path / "runs" / "autoencoder" / "version_1" / "checkpoints" / "last.ckpt",
                         weights_only=True)
    assert resumed["global_step"] == 10  # the planned 10-step epoch, on 1 process
    if processes == 1:
        # The resumed epoch went on from batch 4 of the same shuffled order: neither repeating nor skipping an
        # image, it ends where a run never stopped ends.
        # (One such run, trained once for the SIGTERM and the SIGINT case.)
        uninterrupted_run = trained_runs("autoencoder-ten-steps", [
            "fit", "--model", "autoencoder", "--data", "digits", *TEN_STEP_EPOCH, "--data.num_workers", "0"])
        last_uninterrupted = uninterrupted_run / "runs" / "autoencoder" / "version_0" / "checkpoints" / "last.ckpt"
        uninterrupted = torch.load(last_uninterrupted, weights_only=True)
        for name, weights in uninterrupted["state_dict"].items():
            torch.testing.assert_close(resumed["state_dict"][name], weights, msg=f"{name} differs after the resume")


def test_a_checkpoint_write_that_fails_leaves_the_previous_last_ckpt_whole(tmp_path, monkeypatch):
    """A disk that fills half-way through writing `last.ckpt`: the error is raised, the old file still loads."""
    from fsspec.implementations.local import LocalFileOpener

    from zoo.training.cli import run_cli

    cli = run_cli(["fit", "--model", "autoencoder", "--data", "digits", *TEN_STEP_EPOCH, "--data.num_workers", "0",
                   "--trainer.default_root_dir", str(tmp_path)])
    last = Path(cli.trainer.checkpoint_callback.last_model_path)
    before = last.read_bytes()

    original_write = LocalFileOpener.write

    def write_half_then_fill_the_disk(self, data):
        original_write(self, data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(LocalFileOpener, "write", write_half_then_fill_the_disk)
    with pytest.raises(OSError, match="No space left"):
        cli.trainer.checkpoint_callback._write_last(cli.trainer)
    monkeypatch.undo()
    assert last.read_bytes() == before and torch.load(last, weights_only=True)["global_step"] == 10
    assert not list(last.parent.glob("*.partial"))
