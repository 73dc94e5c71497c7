"""FSDP of the manual-optimization families on two CPU processes (gloo): train, save, load back into one process.

Lightning's FSDPStrategy wraps the whole LightningModule in one FSDP root; a family that calls its
networks directly in ``training_step`` never runs that root's end-of-backward, and its checkpoint
cannot be saved (on CPU: "Expects the handle training to be IDLE", on an H200: a KeyError in
``optim_state_dict``). ``zoo.sharding.NetworkFSDPStrategy`` gives each network its own root.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.conftest import REPO, run_zoo, zoo_in_process
from tests.data.image_folders import write_images, write_unpaired
from zoo.cli import main

CYCLEGAN_FSDP = ["fit", "--model", "cyclegan", "--config", str(REPO / "configs" / "cyclegan_fsdp.yaml"),
                 "--data", "unpaired", "--data.image_size", "32", "--data.batch_size", "2", "--data.num_workers", "0",
                 "--model.generator_channels", "8", "--model.discriminator_channels", "8", "--model.resnet_blocks", "2",
                 "--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.max_steps", "2",
                 "--trainer.limit_val_batches", "1", "--trainer.num_sanity_val_steps", "0",
                 "--trainer.enable_progress_bar", "false", "--fid.every_n_epochs", "0"]
# The model summary stays on, as a user has it: every rank runs its example input through the sharded networks.


def adam_update(parameter_state: dict, lr: float = 2e-4, betas=(0.5, 0.999), eps: float = 1e-8) -> torch.Tensor:
    """The step Adam took last, from the state it kept (torch's formula, bias-corrected)."""
    step = float(parameter_state["step"])
    first = parameter_state["exp_avg"] / (1 - betas[0] ** step)
    second = parameter_state["exp_avg_sq"] / (1 - betas[1] ** step)
    return -lr * first / (second.sqrt() + eps)


@pytest.mark.slow
def test_cyclegan_under_fsdp_saves_a_checkpoint_that_one_process_resumes_and_translates(tmp_path):
    write_unpaired(tmp_path / "data", count_a=8, count_b=8, size=32)
    every_step = json.dumps({"class_path": "lightning.pytorch.callbacks.ModelCheckpoint", "init_args": {
        "dirpath": str(tmp_path / "steps"), "filename": "{step}", "every_n_train_steps": 1, "save_top_k": -1}})
    run_zoo([*CYCLEGAN_FSDP, "--data.root", "data", "--trainer.callbacks", every_step], cwd=tmp_path)
    last = tmp_path / "runs" / "cyclegan" / "version_0" / "checkpoints" / "last.ckpt"
    checkpoint = torch.load(last, weights_only=True)
    assert checkpoint["global_step"] == 2

    # The full state dict and both optimizers' states load into a plain model and plain optimizers...
    from zoo.models.cyclegan import CycleGAN

    model = CycleGAN(image_shape=(3, 32, 32), generator_channels=8, discriminator_channels=8, resnet_blocks=2)
    before = torch.load(tmp_path / "steps" / "step=1.ckpt", weights_only=True)
    after = torch.load(tmp_path / "steps" / "step=2.ckpt", weights_only=True)
    model.load_state_dict(after["state_dict"])
    networks = ((model.generator_ab, model.generator_ba), (model.discriminator_a, model.discriminator_b))
    for (first, second), saved in zip(networks, after["optimizer_states"], strict=True):
        optimizer = torch.optim.Adam([*first.parameters(), *second.parameters()], lr=2e-4, betas=(0.5, 0.999))
        optimizer.load_state_dict(saved)
        # ...each parameter with its own moments: the update they give is the one the parameter took at step 2.
        for name, parameter in model.named_parameters():
            if parameter not in optimizer.state:
                continue
            taken = after["state_dict"][name] - before["state_dict"][name]
            torch.testing.assert_close(adam_update(optimizer.state[parameter]), taken, rtol=1e-3, atol=1e-7,
                                       msg=f"{name}: the saved moments are another parameter's")

    # One process resumes the sharded run's checkpoint (optimizers included) and translates with it.
    run_zoo([*CYCLEGAN_FSDP[:CYCLEGAN_FSDP.index("--config")], *CYCLEGAN_FSDP[CYCLEGAN_FSDP.index("--data"):],
             "--data.root", "data", "--trainer.devices", "1", "--trainer.max_steps", "3", "--ckpt_path", str(last)],
            cwd=tmp_path)
    resumed = tmp_path / "runs" / "cyclegan" / "version_1" / "checkpoints" / "last.ckpt"
    assert torch.load(resumed, weights_only=True)["global_step"] == 3
    write_images(tmp_path / "photos", count=2, size=32)
    main(["translate", "--ckpt", str(last), "--input", str(tmp_path / "photos"), "--out", str(tmp_path / "out"),
          "--device", "cpu"])
    assert len(list((tmp_path / "out").iterdir())) == 2


def test_fsdp_named_by_the_user_shards_each_network_of_a_manual_optimization_family_apart():
    """``--trainer.strategy fsdp`` (Lightning's FSDPStrategy) gets one root per network for GANs, not for the rest."""
    from types import SimpleNamespace

    from lightning.pytorch.strategies import FSDPStrategy

    from zoo.training.policy import shard_each_network_apart
    from zoo.models.autoencoder import Autoencoder
    from zoo.models.pix2pix import Pix2Pix
    from zoo.sharding import NetworkFSDPStrategy

    for model, expected in ((Pix2Pix(image_shape=(1, 28, 28)), NetworkFSDPStrategy), (Autoencoder(), FSDPStrategy)):
        trainer = SimpleNamespace(strategy=FSDPStrategy(state_dict_type="full"))
        shard_each_network_apart(trainer, model)
        assert type(trainer.strategy) is expected
        assert trainer.strategy._state_dict_type == "full"


def test_gradient_clipping_by_norm_under_fsdp_is_refused_in_one_line_before_any_process_starts(tmp_path, capsys):
    """Lightning's FSDPPrecision cannot clip by norm (it would say so from inside each rank's first step)."""
    write_unpaired(tmp_path / "data", count_a=8, count_b=8, size=32)
    result = zoo_in_process([*CYCLEGAN_FSDP, "--data.root", "data", "--trainer.gradient_clip_val", "1.0"], tmp_path,
                            capsys)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "zoo: error: --trainer.gradient_clip_val 1.0 clips by norm, which Lightning does not support under FSDP; "
        "add --trainer.gradient_clip_algorithm value, or train without FSDP")
    assert not (tmp_path / "runs").exists()
