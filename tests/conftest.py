"""Shared test set-up: a clean home, offline W&B, helpers that run the CLI, and trained runs the suite shares."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import filelock
import pytest
import torch

REPO = Path(__file__).resolve().parent.parent

# The tests train tiny models: one thread each is faster than two fighting over 2 cores
# (measured ~25x per step when several test processes run at once).
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    """Keep caches and W&B files out of the user's home; nothing may download."""
    isolate(tmp_path_factory.mktemp("home"), monkeypatch)


def isolate(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("TORCH_HOME", "WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR",
                     "MPLCONFIGDIR"):
        monkeypatch.setenv(variable, str(home / variable.lower()))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("PL_DISABLE_FORK", "1")
    monkeypatch.setenv("PYTHONWARNINGS", "ignore")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def run_zoo(args: list[str], cwd: Path, timeout: int = 600, check: bool = True,
            in_process: bool = False) -> subprocess.CompletedProcess:
    """Run ``zoo ARGS`` as a user would (a subprocess of the installed console script's module).

    ``in_process=True`` calls the same ``main()`` in the test's own process instead, saving the ~5 s of a start-up
    (importing Lightning); for commands whose test reads what they wrote or printed. What only a process of its own
    shows stays a subprocess: signals, several devices, a crash's exit status, ``--quiet``'s logging levels.
    """
    if in_process:
        result = zoo_in_process(args, cwd)
    else:
        result = subprocess.run(
            [sys.executable, "-m", "zoo.cli", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "COLUMNS": "200"},
        )
    if check and result.returncode != 0:
        raise AssertionError(
            f"zoo {' '.join(args)} exited {result.returncode}\n--- stdout\n{result.stdout[-4000:]}"
            f"\n--- stderr\n{result.stderr[-4000:]}"
        )
    return result


# Flags that make a CLI training run take seconds: small batches, few of them, no progress bar noise.
FAST_TRAINER = [
    "--trainer.max_epochs", "1",
    "--trainer.limit_train_batches", "4",
    "--trainer.limit_val_batches", "2",
    "--trainer.enable_progress_bar", "false",
    "--trainer.enable_model_summary", "false",
    "--trainer.num_sanity_val_steps", "0",
]


def zoo_in_process(args: list[str], cwd: Path, capsys=None) -> subprocess.CompletedProcess:
    """``zoo ARGS`` through the console script's own ``main()``, in this process: no start-up of its own.

    What it printed (through ``capsys`` when given, else through ``sys.stdout``/``sys.stderr`` swapped for the call)
    and its exit status come back as ``run_zoo`` gives them, so a test reads the same either way; an error that
    ``main`` does not turn into a ``zoo: error:`` line propagates (a subprocess would exit 1). The working folder,
    the environment (Lightning's seeding writes PL_GLOBAL_SEED into it, which later subprocesses would inherit)
    and torch's random state are put back afterwards.
    """
    from zoo.cli import main

    if capsys is not None:
        capsys.readouterr()  # only what this command prints
    out, err = io.StringIO(), io.StringIO()
    previous_folder, previous_environment = Path.cwd(), dict(os.environ)
    os.chdir(cwd)
    os.environ["COLUMNS"] = "200"
    try:
        with torch.random.fork_rng(devices=[]), contextlib.ExitStack() as redirected:
            if capsys is None:
                redirected.enter_context(contextlib.redirect_stdout(out))
                redirected.enter_context(contextlib.redirect_stderr(err))
            main(list(args))
        returncode = 0
    except SystemExit as exit_status:
        returncode = exit_status.code if isinstance(exit_status.code, int) else (0 if exit_status.code is None else 1)
    finally:
        os.chdir(previous_folder)
        os.environ.clear()
        os.environ.update(previous_environment)
    if capsys is None:
        return subprocess.CompletedProcess(["zoo", *args], returncode, out.getvalue(), err.getvalue())
    printed = capsys.readouterr()
    return subprocess.CompletedProcess(["zoo", *args], returncode, printed.out, printed.err)


# The trained runs that several files put to work (sample, encode, score, export, a second run, a resume). Each is
# trained once per `pytest` command: the first worker to need it trains it under a lock in the folder all xdist
# workers share, the others wait for it and reuse it. A test must not change one: copy it first (`copy_run`).
SHARED_FITS = {
    "autoencoder": ["fit", "--model", "autoencoder", "--data", "digits", *FAST_TRAINER, "--fid.every_n_epochs", "0"],
    "vae": ["fit", "--model", "vae", "--data", "digits", *FAST_TRAINER, "--fid.every_n_epochs", "0"],
}


@pytest.fixture(scope="session")
def trained_runs(tmp_path_factory):
    """``trained_runs(name, args)``: the folder (holding ``runs/MODEL/version_0``) where ``zoo ARGS`` ran.

    ``args`` defaults to ``SHARED_FITS[name]``; a file's own shared run names itself and gives its ``args``.
    """
    basetemp = tmp_path_factory.getbasetemp()
    shared = basetemp.parent if os.environ.get("PYTEST_XDIST_WORKER") else basetemp

    def trained(name: str, args: list[str] | None = None) -> Path:
        args = SHARED_FITS[name] if args is None else args
        root = shared / "trained-runs" / name
        root.parent.mkdir(exist_ok=True)
        with filelock.FileLock(f"{root}.lock"):
            if not (root / "args.json").exists():
                shutil.rmtree(root, ignore_errors=True)  # what a failed attempt left
                root.mkdir()
                with pytest.MonkeyPatch.context() as monkeypatch:
                    isolate(root.parent / f"{name}-home", monkeypatch)
                    run_zoo(args, cwd=root)
                (root / "args.json").write_text(json.dumps(args))
        assert json.loads((root / "args.json").read_text()) == args, f"two different shared runs named {name!r}"
        return root

    return trained


@pytest.fixture(scope="session")
def trained_autoencoder(trained_runs) -> Path:
    """``last.ckpt`` of an autoencoder trained 4 steps on the digits by ``zoo fit`` (shared: read, never write)."""
    return trained_runs("autoencoder") / "runs" / "autoencoder" / "version_0" / "checkpoints" / "last.ckpt"


@pytest.fixture(scope="session")
def trained_vae(trained_runs) -> Path:
    """``last.ckpt`` of a VAE trained 4 steps on the digits by ``zoo fit`` (shared: read, never write)."""
    return trained_runs("vae") / "runs" / "vae" / "version_0" / "checkpoints" / "last.ckpt"


def copy_run(trained_root: Path, destination: Path) -> Path:
    """A shared run's ``runs/`` copied to ``destination``, for a test that trains on (a second run, a resume)."""
    shutil.copytree(trained_root / "runs", destination / "runs", dirs_exist_ok=True)
    return destination / "runs"
