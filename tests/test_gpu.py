"""GPU smoke: every family trains on CUDA in bf16-mixed and 16-mixed, FID runs there, the commands read CUDA checkpoints.

Skipped without CUDA (so in CI); run on a GPU machine with ``pytest -m gpu tests/test_gpu.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.data.image_folders import write_images, write_unpaired
from zoo.cli import main
from zoo.training.cli import run_cli

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

QUICK = ["--trainer.accelerator", "gpu", "--trainer.devices", "1", "--trainer.max_epochs", "1",
         "--trainer.limit_train_batches", "6", "--trainer.limit_val_batches", "2", "--trainer.num_sanity_val_steps", "0",
         "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
         "--data.num_workers", "0", "--fid.num_samples", "64"]

SMALL_TRANSLATION = ["--model.generator_channels", "16", "--model.discriminator_channels", "16"]


def data_flags(family: str, root: Path) -> list[str]:
    if family == "pix2pix":
        return ["--data", "super_resolution", "--data.batch_size", "8", *SMALL_TRANSLATION]
    if family == "cyclegan":
        if not (root / "trainA").exists():
            write_unpaired(root, count_a=12, count_b=12, size=32)
        return ["--data", "unpaired", "--data.root", str(root), "--data.image_size", "32", "--data.batch_size", "2",
                *SMALL_TRANSLATION, "--model.resnet_blocks", "2"]
    return ["--data", "digits", "--data.batch_size", "32"]


def fit(family: str, precision: str, folder: Path, *extra: str):
    return run_cli(["fit", "--model", family, *data_flags(family, folder / "data"), *QUICK,
                    "--trainer.precision", precision, "--trainer.default_root_dir", str(folder / "runs"), *extra])


FAMILIES = ["autoencoder", "denoising_autoencoder", "vae", "gan", "dcgan", "wgan", "wgan_gp", "pix2pix", "cyclegan"]


@pytest.mark.parametrize("precision", ["bf16-mixed", "16-mixed"])
@pytest.mark.parametrize("family", FAMILIES)
def test_family_trains_on_cuda(tmp_path, family, precision):
    cli = fit(family, precision, tmp_path)
    assert cli.trainer.strategy.root_device.type == "cuda"  # (Lightning moves the model back to the CPU after fit)
    checkpoint = torch.load(cli.trainer.checkpoint_callback.last_model_path, map_location="cpu", weights_only=False)
    # global_step counts generator updates: the WGANs update their generator once per n_critic = 5 batches.
    assert checkpoint["global_step"] == (1 if family in ("wgan", "wgan_gp") else 6)
    for name, tensor in checkpoint["state_dict"].items():
        assert torch.isfinite(tensor.float()).all(), f"{family} {precision}: {name} is not finite"
    if family not in ("autoencoder", "denoising_autoencoder", "cyclegan"):  # samplers and pix2pix on digits:
        # FID with the shipped digits features, computed on the GPU (cyclegan's RGB would need Inception).
        assert "val/fid" in cli.trainer.callback_metrics, sorted(cli.trainer.callback_metrics)


def test_commands_read_cuda_checkpoints(tmp_path):
    dcgan = fit("dcgan", "bf16-mixed", tmp_path / "dcgan").trainer.checkpoint_callback.last_model_path
    main(["sample", "--ckpt", dcgan, "-n", "16", "--out", str(tmp_path / "grid.png"), "--device", "cuda"])
    assert (tmp_path / "grid.png").stat().st_size > 0
    autoencoder = fit("autoencoder", "bf16-mixed", tmp_path / "ae").trainer.checkpoint_callback.last_model_path
    main(["score", "--ckpt", autoencoder, "--data", "digits", "--out", str(tmp_path / "scores.csv"),
          "--device", "cuda"])
    assert len((tmp_path / "scores.csv").read_text().splitlines()) > 100
    pix2pix = fit("pix2pix", "bf16-mixed", tmp_path / "p2p").trainer.checkpoint_callback.last_model_path
    write_images(tmp_path / "small", count=3, size=28, grey=True)
    main(["translate", "--ckpt", pix2pix, "--input", str(tmp_path / "small"), "--out", str(tmp_path / "big"),
          "--device", "cuda"])
    assert len(list((tmp_path / "big").iterdir())) == 3


def test_cyclegan_resumed_on_cuda_saves_its_pool_again(tmp_path):
    first = fit("cyclegan", "bf16-mixed", tmp_path).trainer.checkpoint_callback.last_model_path
    resumed = fit("cyclegan", "bf16-mixed", tmp_path, "--trainer.max_epochs", "2", "--ckpt_path", first)
    checkpoint = torch.load(resumed.trainer.checkpoint_callback.last_model_path, map_location="cpu", weights_only=True)
    assert checkpoint["global_step"] == 12 and checkpoint["image_pools"]["A"]["images"].shape[0] > 0


def test_validation_leaves_the_cuda_random_stream_alone(tmp_path):
    """A fit with FID and KID: the CUDA generator after training equals a run of the same steps without them."""

    def cuda_stream_after(*extra: str) -> torch.Tensor:
        fit("vae", "32-true", tmp_path / str(len(extra)), "--trainer.max_epochs", "2", *extra)
        return torch.cuda.get_rng_state()

    with_fid = cuda_stream_after()
    without_fid = cuda_stream_after("--fid.every_n_epochs", "0")
    assert torch.equal(with_fid, without_fid)


@pytest.mark.xfail(strict=True, raises=KeyError, reason=(
    "measured on an H200 (2026-11-30, torch 2.11): under Lightning's FSDPStrategy (one FSDP root for the whole "
    "module) CycleGAN trained, but saving its optimizers failed in torch's optim_state_dict with a KeyError. "
    "configs/cyclegan_fsdp.yaml now gives each network its own root (zoo.sharding.NetworkFSDPStrategy), which "
    "saves, resumes on one process and translates on 2 CPU processes (tests/test_sharding.py) but has not run on "
    "a GPU yet. An XPASS here means it works on CUDA too: remove this mark"))
def test_cyclegan_trains_under_fsdp_and_its_checkpoint_translates_in_one_process(tmp_path):
    fsdp = str(Path(__file__).resolve().parent.parent / "configs" / "cyclegan_fsdp.yaml")
    cli = fit("cyclegan", "bf16-mixed", tmp_path, "--config", fsdp)
    assert type(cli.trainer.strategy).__name__ == "NetworkFSDPStrategy"
    checkpoint = cli.trainer.checkpoint_callback.last_model_path
    assert torch.load(checkpoint, map_location="cpu", weights_only=True)["global_step"] == 6
    write_images(tmp_path / "photos", count=2, size=32)
    main(["translate", "--ckpt", checkpoint, "--input", str(tmp_path / "photos"), "--out", str(tmp_path / "out"),
          "--device", "cpu"])
    assert len(list((tmp_path / "out").iterdir())) == 2


@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed", "16-mixed"])
@pytest.mark.parametrize("model", ["PoisonedAutoencoder", "PoisonedGAN"])
def test_a_nan_on_cuda_stops_the_run_with_finite_weights(tmp_path, capsys, model, precision):
    """The NaN guard under each precision on the GPU.

    Under 16-mixed the grad scaler skips a step whose gradients overflow and lowers its scale (its
    calibration, frequent in its first steps): the run goes on with its weights untouched, and
    stops only if the scale collapses. In 32-true and bf16-mixed the planted NaN stops the run.
    """
    argv = ["fit", "--model", f"tests.test_guards.{model}", "--data", "digits", *QUICK, "--fid.every_n_epochs", "0",
            "--trainer.limit_val_batches", "0", "--trainer.precision", precision,
            "--trainer.default_root_dir", str(tmp_path)]
    if precision == "16-mixed":
        saved = run_cli(argv).trainer.checkpoint_callback.last_model_path
    else:
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
        line = next(line for line in capsys.readouterr().err.splitlines() if line.startswith("zoo: error:"))
        assert "= nan" in line or "non-finite" in line, line
        saved = line.split("the weights from before it are in ")[1].split(". Likely")[0]
    weights = torch.load(saved, map_location="cpu", weights_only=True)["state_dict"]
    assert all(torch.isfinite(value).all() for value in weights.values() if value.is_floating_point())
