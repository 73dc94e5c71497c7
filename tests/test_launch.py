"""Every way of starting several processes trains a GAN with no strategy flag: the zoo, not the user, picks DDP's mode.

Manual-optimization GANs need DDP's unused-parameter search; without it the first step
fails with "parameters that were not used in producing the loss". Each launch path below
ends in a DDP strategy by another route (Lightning's ``auto``, a name, an object from a
config, torchrun's or SLURM's environment), two CPU processes each.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import REPO, run_zoo
from tests.launching import assert_all_exit_0, free_port, launch, torchrun

GAN_FIT = ["fit", "--model", "gan", "--data", "digits", "--data.batch_size", "16", "--data.num_workers", "0",
           "--trainer.max_steps", "3", "--trainer.limit_val_batches", "1", "--trainer.accelerator", "cpu",
           "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
           "--fid.every_n_epochs", "0"]

DDP_STRATEGY_CONFIG = """\
trainer:
  strategy:
    class_path: lightning.pytorch.strategies.DDPStrategy
    init_args:
      process_group_backend: gloo
"""


def checkpoints_of(folder: Path) -> list[Path]:
    return sorted(folder.glob("runs/gan/version_*/checkpoints/last.ckpt"))


def assert_one_run_at_step_3(folder: Path) -> None:
    checkpoints = checkpoints_of(folder)
    assert len(checkpoints) == 1, f"expected one run, found {checkpoints}"  # rank 0 alone names and writes the run
    assert torch.load(checkpoints[0], weights_only=True)["global_step"] == 3


@pytest.mark.parametrize("strategy", ["unset", "auto", "ddp", "ddp_spawn", "DDPStrategy in a config file"])
def test_gan_trains_on_two_devices_however_the_strategy_is_given(tmp_path, strategy):
    if strategy == "unset":
        flags = []
    elif strategy == "DDPStrategy in a config file":
        (tmp_path / "ddp.yaml").write_text(DDP_STRATEGY_CONFIG)
        flags = ["--config", str(tmp_path / "ddp.yaml")]
    else:
        flags = ["--trainer.strategy", strategy]
    run_zoo([*GAN_FIT, "--trainer.devices", "2", *flags], cwd=tmp_path)
    assert_one_run_at_step_3(tmp_path)


def test_shipped_torchrun_script_on_one_node_with_two_processes(tmp_path):
    """``scripts/torchrun.sh`` as docs/scaling.md prints it, with one node of two (CPU) processes."""
    environment = {"NODES": "1", "GPUS_PER_NODE": "2", "PORT": str(free_port()),
                   "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    assert_all_exit_0(launch([(["bash", str(REPO / "scripts" / "torchrun.sh"), *GAN_FIT[1:]], environment, tmp_path)]))
    assert_one_run_at_step_3(tmp_path)


def test_torchrun_on_two_nodes_each_in_its_own_folder(tmp_path):
    """Two nodes (one process each) on localhost: both exit 0, and only node 0's folder holds the run."""
    port = free_port()
    nodes = [([*torchrun(2, rank, 1, port), *GAN_FIT, "--trainer.num_nodes", "2", "--trainer.devices", "1"], {},
              tmp_path / f"node{rank}") for rank in (0, 1)]
    assert_all_exit_0(launch(nodes))
    assert_one_run_at_step_3(tmp_path / "node0")
    assert not checkpoints_of(tmp_path / "node1")


def test_srun_with_two_tasks(tmp_path):
    """What ``srun --ntasks-per-node 2 zoo fit …`` gives each task: SLURM's variables, which Lightning reads."""
    port = str(free_port())
    tasks = []
    for rank in (0, 1):
        slurm = {"SLURM_NTASKS": "2", "SLURM_NTASKS_PER_NODE": "2", "SLURM_NNODES": "1", "SLURM_PROCID": str(rank),
                 "SLURM_LOCALID": str(rank), "SLURM_NODEID": "0", "SLURM_JOB_ID": "4242", "SLURM_JOB_NAME": "zoo",
                 "SLURM_NODELIST": "127.0.0.1", "MASTER_PORT": port}
        tasks.append(([sys.executable, "-m", "zoo.cli", *GAN_FIT, "--trainer.devices", "2"], slurm, tmp_path))
    assert_all_exit_0(launch(tasks))
    assert_one_run_at_step_3(tmp_path)


def test_each_process_draws_its_own_noise_from_the_same_starting_weights(tmp_path, monkeypatch):
    """Two processes of a denoising autoencoder: distinct corruption noise, one model."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    record = json.dumps({"class_path": "tests.recording.RecordFirstNoise", "init_args": {"folder": str(tmp_path)}})
    run_zoo(["fit", "--model", "denoising_autoencoder", "--data", "digits", "--data.num_workers", "0",
             "--trainer.devices", "2", "--trainer.accelerator", "cpu", "--trainer.max_steps", "1",
             "--trainer.limit_val_batches", "1", "--trainer.enable_progress_bar", "false",
             "--trainer.callbacks", record], cwd=tmp_path)
    ranks = [torch.load(tmp_path / f"rank{rank}.pt", weights_only=True) for rank in (0, 1)]
    assert not torch.equal(ranks[0]["noise"], ranks[1]["noise"])
    assert torch.equal(ranks[0]["weights"], ranks[1]["weights"])


@pytest.mark.parametrize("family", ["cyclegan", "pix2pix"])
def test_fsdp_config_wraps_each_network_apart_and_every_residual_block(family):
    """configs/cyclegan_fsdp.yaml as Lightning builds it (FSDP itself runs on GPUs: tests/test_gpu.py)."""
    import yaml
    from jsonargparse import ArgumentParser
    from lightning.pytorch.strategies import FSDPStrategy

    from zoo import registry
    from zoo.nn.translation import ResidualBlock

    parser = ArgumentParser()
    parser.add_argument("--strategy", type=FSDPStrategy)
    config = yaml.safe_load((REPO / "configs" / "cyclegan_fsdp.yaml").read_text())["trainer"]["strategy"]
    strategy = parser.instantiate_classes(parser.parse_object({"strategy": config})).strategy
    policy = strategy.kwargs["auto_wrap_policy"]
    model = registry.get("model", family).load()(image_shape=(3, 64, 64), generator_channels=8,
                                                 discriminator_channels=8)

    wrapped = {name for name, module in model.named_modules() if name and policy(module, False, 0)}
    networks = {name for name in wrapped if "." not in name}
    assert networks == ({"generator_ab", "generator_ba", "discriminator_a", "discriminator_b"} if family == "cyclegan"
                        else {"generator", "discriminator"})
    blocks = {name for name, module in model.named_modules() if isinstance(module, ResidualBlock)}
    assert blocks <= wrapped and (family == "pix2pix" or blocks)
    # Every parameter sits in one network's unit: no flat parameter mixes two optimizers' parameters.
    assert all(name.split(".")[0] in networks for name, _ in model.named_parameters())


def test_a_one_process_checkpoint_resumes_on_two_processes_to_the_planned_step(tmp_path):
    """The reverse of tests/test_resume.py's 2 -> 1: a GAN stopped at step 3 on one process ends at 6 on two."""
    run_zoo([*GAN_FIT, "--trainer.devices", "1"], cwd=tmp_path)
    first = checkpoints_of(tmp_path)[0]
    run_zoo([*GAN_FIT, "--trainer.devices", "2", "--trainer.max_steps", "6", "--ckpt_path", str(first)],
            cwd=tmp_path)
    resumed = tmp_path / "runs" / "gan" / "version_1" / "checkpoints" / "last.ckpt"
    assert torch.load(resumed, weights_only=True)["global_step"] == 6
