"""Pix2Pix: translate keeps shapes, training makes B from A better, the CLI trains it under DDP + bf16."""

from __future__ import annotations

import csv

import lightning as L
import pytest
import torch
import yaml
from torch.utils.data import DataLoader, Dataset

from tests.conftest import FAST_TRAINER, REPO, run_zoo
from tests.data.image_folders import grey_of, photo_crops
from tests.models.adversarial_checks import check_schedule_resumes, halving_scheduler
from zoo import registry
from zoo.training.cli import run_cli
from zoo.errors import ZooError
from zoo.models.pix2pix import Pix2Pix

SMALL = {"generator_channels": 16, "discriminator_channels": 16}


def small_pix2pix(size: int = 32) -> Pix2Pix:
    return registry.get("model", "pix2pix").load()(image_shape=(3, size, size), **SMALL)


def test_registered_with_its_interface():
    cls = registry.get("model", "pix2pix").load()
    assert cls is Pix2Pix and cls.task == "translation" and cls.batch_kind == "paired"
    assert registry.get("model", "pix2pix").metadata["default_data"] == "paired"


@pytest.mark.parametrize("size", [32, 28, 64])
def test_unet_depth_follows_the_image_size(size):
    model = small_pix2pix(size)
    assert model.generator.depth == {32: 5, 28: 2, 64: 6}[size]
    images = torch.rand(2, 3, size, size)
    translated = model.eval().translate(images)
    assert translated.shape == images.shape and 0 <= translated.min() and translated.max() <= 1


def test_translate_accepts_other_sizes_and_refuses_the_other_direction():
    model = small_pix2pix(32).eval()
    images = torch.rand(1, 3, 45, 70)  # not a multiple of 32: padded inside, cropped back
    assert model.translate(images).shape == images.shape
    with pytest.raises(ZooError, match="AtoB"):
        model.translate(images, direction="BtoA")
    with pytest.raises(ZooError, match=r"\(N, 3, H, W\)"):
        model.translate(torch.rand(1, 1, 32, 32))


class FixedPairs(Dataset):
    """The same few (grey photo, colour photo) pairs, over and over."""

    def __init__(self, count: int, size: int, repeats: int) -> None:
        photos = photo_crops(count, size, seed=3)
        self.b = torch.stack([torch.tensor(photo).permute(2, 0, 1).float() / 255 for photo in photos])
        self.a = torch.stack([torch.tensor(grey_of(photo)).permute(2, 0, 1).float() / 255 for photo in photos])
        self.repeats = repeats

    def __len__(self) -> int:
        return len(self.a) * self.repeats

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"A": self.a[index % len(self.a)], "B": self.b[index % len(self.b)]}


class DiscriminatorWatch(L.Callback):
    """Asserts that the generator's optimizer step leaves every discriminator parameter as it was."""

    def __init__(self) -> None:
        self.generator_steps = 0

    def on_train_start(self, trainer, pl_module) -> None:
        optimizer_g = trainer.optimizers[0]
        before: list[torch.Tensor] = []

        def snapshot(optimizer, args, kwargs):
            before[:] = [p.detach().clone() for p in pl_module.discriminator.parameters()]

        def compare(optimizer, args, kwargs):
            after = list(pl_module.discriminator.parameters())
            assert all(torch.equal(old, new) for old, new in zip(before, after))
            self.generator_steps += 1

        optimizer_g.register_step_pre_hook(snapshot)
        optimizer_g.register_step_post_hook(compare)


def fast_adam(params) -> torch.optim.Adam:
    return torch.optim.Adam(params, lr=1e-3, betas=(0.5, 0.999))


def test_training_moves_both_networks_and_makes_b_from_a_better():
    torch.manual_seed(0)
    # Instance norm: eval-mode output then uses no running statistics, which lag far behind after 20 steps;
    # a higher learning rate than the paper's so that 20 steps show the trend.
    model = Pix2Pix(image_shape=(3, 32, 32), generator_channels=8, discriminator_channels=8, norm="instance",
                    optimizer_g=fast_adam, optimizer_d=fast_adam)
    data = FixedPairs(count=4, size=32, repeats=20)
    batch = {"A": data.a, "B": data.b}
    start_l1 = (model.eval().translate(batch["A"]) - batch["B"]).abs().mean()
    model.train()
    generator_before = [p.detach().clone() for p in model.generator.parameters()]
    discriminator_before = [p.detach().clone() for p in model.discriminator.parameters()]
    watch = DiscriminatorWatch()
    trainer = L.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, callbacks=[watch])
    trainer.fit(model, DataLoader(data, batch_size=4, shuffle=False))
    end_l1 = (model.eval().translate(batch["A"]) - batch["B"]).abs().mean()
    # 20 batches: global_step counts generator updates only, one per batch.
    assert trainer.global_step == 20 and watch.generator_steps == 20
    assert any(not torch.equal(a, b) for a, b in zip(generator_before, model.generator.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(discriminator_before, model.discriminator.parameters()))
    assert end_l1 < 0.7 * start_l1, (float(start_l1), float(end_l1))
    assert torch.isfinite(trainer.callback_metrics["train/d_loss"])


def test_optimizers_default_to_the_papers_adam_and_can_be_swapped():
    optimizer_g, optimizer_d = small_pix2pix(32).configure_optimizers()
    for optimizer in (optimizer_g, optimizer_d):
        assert isinstance(optimizer, torch.optim.Adam)
        assert optimizer.defaults["lr"] == pytest.approx(2e-4) and optimizer.defaults["betas"] == (0.5, 0.999)
    model = Pix2Pix(image_shape=(3, 32, 32), **SMALL, optimizer_g=torch.optim.RMSprop)
    optimizer_g, optimizer_d = model.configure_optimizers()
    assert isinstance(optimizer_g, torch.optim.RMSprop) and isinstance(optimizer_d, torch.optim.Adam)


def test_translation_grid_shows_a_fake_b_real_b():
    model = small_pix2pix(32).eval()
    grid = model.translation_grid({"A": torch.rand(5, 3, 32, 32), "B": torch.rand(5, 3, 32, 32)}, max_images=4)
    # 4 rows of 3 tiles, each 32 px plus 2 px of padding around.
    assert grid.shape == (3, 4 * 34 + 2, 3 * 34 + 2) and 0 <= grid.min() and grid.max() <= 1


def test_cli_trains_super_resolution_on_two_processes_with_no_strategy_flag_in_bf16(tmp_path):
    # Digits (1x28x28) keep the FID callback on with its shipped digits features: translation FID runs too.
    run_zoo(["fit", "--model", "pix2pix", "--data", "super_resolution", "--data.batch_size", "4",
             "--data.num_workers", "1", "--model.generator_channels", "16", "--model.discriminator_channels", "16",
             "--trainer.devices", "2", "--trainer.accelerator", "cpu",  # no strategy flag: the zoo picks DDP's mode
             "--trainer.precision", "bf16-mixed", "--trainer.log_every_n_steps", "1", *FAST_TRAINER], cwd=tmp_path)
    run_dir = tmp_path / "runs" / "pix2pix" / "version_0"
    with open(run_dir / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    validation = [row for row in rows if row.get("val/psnr")]
    assert validation and all(float(validation[-1][key]) > 0 for key in ("val/psnr", "val/ssim", "val/l1"))
    assert any(row.get("val/fid") for row in rows)
    assert any(row.get("train/d_loss") for row in rows) and any(row.get("train/g_loss") for row in rows)
    assert (run_dir / "checkpoints" / "last.ckpt").exists()
    # The CLI attaches the translation grid by interface: A | fake B | real B, written by rank 0 only.
    assert (run_dir / "translations" / "epoch=000.png").exists()


def parsed_config(name: str, capsys) -> dict:
    with pytest.raises(SystemExit) as exit_info:
        run_cli(["fit", "--config", str(REPO / "configs" / name), "--print_config"])
    assert exit_info.value.code in (0, None)
    return yaml.safe_load(capsys.readouterr().out)


def test_configs_hold_the_papers_settings(capsys):
    facades = parsed_config("pix2pix_facades.yaml", capsys)
    assert facades["model"]["class_path"] == "zoo.models.pix2pix.Pix2Pix"
    assert facades["model"]["init_args"]["lambda_l1"] == 100.0
    assert facades["model"]["init_args"]["optimizer_g"]["init_args"]["betas"] == [0.5, 0.999]
    assert facades["data"]["init_args"] | {"direction": "BtoA", "image_size": 256, "load_size": 286} == \
        facades["data"]["init_args"]
    digits = parsed_config("super_resolution_digits.yaml", capsys)
    assert digits["data"]["class_path"] == "zoo.data.super_resolution.SuperResolutionDataModule"
    assert registry.get("model", "pix2pix").metadata["config"] == "configs/pix2pix_facades.yaml"


def test_a_resumed_run_keeps_the_learning_rate_schedule_of_an_uninterrupted_one(tmp_path):
    data = FixedPairs(count=4, size=32, repeats=1)
    check_schedule_resumes(
        lambda: Pix2Pix(image_shape=(3, 32, 32), generator_channels=8, discriminator_channels=8,
                        scheduler_g=halving_scheduler, scheduler_d=halving_scheduler),
        lambda: DataLoader(data, batch_size=2), lambda: DataLoader(data, batch_size=2), tmp_path)
