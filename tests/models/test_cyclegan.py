"""CycleGAN: both directions, the image pool, the paper's schedule, exact resume, DDP + bf16 through the CLI."""

from __future__ import annotations

import csv

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch.utils.data import DataLoader, Dataset

from tests.conftest import FAST_TRAINER, run_zoo
from tests.data.image_folders import grey_of, photo_crops, write_unpaired
from tests.models.test_pix2pix import parsed_config
from zoo import registry
from zoo.errors import ZooError
from zoo.models.cyclegan import CycleGAN, ImagePool

TINY = {"generator_channels": 8, "discriminator_channels": 8, "resnet_blocks": 2}


def test_registered_with_its_interface():
    entry = registry.get("model", "cyclegan")
    assert entry.load() is CycleGAN and CycleGAN.task == "translation" and CycleGAN.batch_kind == "unpaired"
    assert entry.metadata["default_data"] == "unpaired"


def test_translates_both_ways_at_any_size():
    model = CycleGAN(image_shape=(3, 32, 32), generator_channels=8, discriminator_channels=8).eval()
    assert len([m for m in model.generator_ab.modules() if type(m).__name__ == "ResidualBlock"]) == 6
    for shape in ((2, 3, 32, 32), (1, 3, 30, 45)):
        images = torch.rand(shape)
        for direction in ("AtoB", "BtoA"):
            translated = model.translate(images, direction)
            assert translated.shape == images.shape and 0 <= translated.min() and translated.max() <= 1
    assert not torch.equal(model.translate(images, "AtoB"), model.translate(images, "BtoA"))
    with pytest.raises(ZooError, match="direction"):
        model.translate(images, "sideways")


def test_image_pool_fills_then_mixes_history_and_restores_exactly():
    pool = ImagePool(size=4, seed=0)
    first = torch.arange(4.0).view(4, 1, 1, 1)
    assert torch.equal(pool.query(first), first)  # filling: new images pass through
    newest = torch.full((8, 1, 1, 1), 9.0)
    mixed = pool.query(newest)
    assert {float(v) for v in mixed.flatten()} & {0.0, 1.0, 2.0, 3.0}, "some history comes back"
    assert 9.0 in mixed.flatten().tolist(), "some new images pass straight through"
    copy = ImagePool(size=4, seed=123)
    copy.load_state_dict(pool.state_dict())
    later = torch.full((6, 1, 1, 1), 7.0)
    assert torch.equal(pool.query(later), copy.query(later.clone()))


class FixedUnpaired(Dataset):
    """Grey photographs (A) and colour photographs (B) of other places, always in the same order."""

    def __init__(self, count: int, size: int, repeats: int = 1) -> None:
        self.a = [torch.tensor(grey_of(p)).permute(2, 0, 1).float() / 255 for p in photo_crops(count, size, seed=1)]
        self.b = [torch.tensor(p).permute(2, 0, 1).float() / 255 for p in photo_crops(count, size, seed=2)]
        self.repeats = repeats

    def __len__(self) -> int:
        return len(self.a) * self.repeats

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"A": self.a[index % len(self.a)], "B": self.b[index % len(self.b)]}


def fast_adam(params) -> torch.optim.Adam:
    return torch.optim.Adam(params, lr=1e-3, betas=(0.5, 0.999))


def tiny_trainer(tmp_path, max_epochs: int, callbacks: list | None = None) -> L.Trainer:
    return L.Trainer(max_epochs=max_epochs, default_root_dir=tmp_path, logger=False, enable_progress_bar=False,
                     enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=1,
                     callbacks=[ModelCheckpoint(dirpath=tmp_path, save_last=True), *(callbacks or [])])


class LearningRates(L.Callback):
    """The generator's learning rate in each epoch, read at its first batch."""

    def __init__(self) -> None:
        self.by_epoch: dict[int, float] = {}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.by_epoch.setdefault(trainer.current_epoch, trainer.optimizers[0].param_groups[0]["lr"])


def test_optimizers_default_to_the_papers_adam_and_can_be_swapped():
    (optimizer_g, optimizer_d), _ = CycleGAN(image_shape=(3, 32, 32), **TINY).configure_optimizers()
    for optimizer in (optimizer_g, optimizer_d):
        assert isinstance(optimizer, torch.optim.Adam)
        assert optimizer.defaults["lr"] == pytest.approx(2e-4) and optimizer.defaults["betas"] == (0.5, 0.999)
    (optimizer_g, optimizer_d), _ = CycleGAN(image_shape=(3, 32, 32), **TINY,
                                             optimizer_d=torch.optim.RMSprop).configure_optimizers()
    assert isinstance(optimizer_g, torch.optim.Adam) and isinstance(optimizer_d, torch.optim.RMSprop)


def test_cycle_loss_falls_and_generator_step_leaves_discriminators_alone(tmp_path):
    torch.manual_seed(0)
    # A higher learning rate than the paper's so that 40 steps show the trend.
    model = CycleGAN(image_shape=(3, 32, 32), **TINY, optimizer_g=fast_adam, optimizer_d=fast_adam)
    data = FixedUnpaired(count=4, size=32, repeats=20)
    batch = {"A": torch.stack(data.a), "B": torch.stack(data.b)}

    def cycle_l1() -> float:
        model.eval()
        cycled = model.translate(model.translate(batch["A"], "AtoB"), "BtoA")
        return float((cycled - batch["A"]).abs().mean())

    start = cycle_l1()
    discriminators = [*model.discriminator_a.parameters(), *model.discriminator_b.parameters()]
    frozen: list[torch.Tensor] = []

    class Watch(L.Callback):
        def on_train_start(self, trainer, pl_module) -> None:
            optimizer_g = trainer.optimizers[0]
            optimizer_g.register_step_pre_hook(lambda *_: frozen.__setitem__(slice(None), [
                p.detach().clone() for p in discriminators]))
            optimizer_g.register_step_post_hook(lambda *_: self.check())

        def check(self) -> None:
            assert all(torch.equal(old, new) for old, new in zip(frozen, discriminators))

    model.train()
    trainer = tiny_trainer(tmp_path, max_epochs=1, callbacks=[Watch()])
    trainer.fit(model, DataLoader(data, batch_size=2), DataLoader(data, batch_size=4))
    assert trainer.global_step == 40  # generator updates only
    assert cycle_l1() < 0.7 * start
    assert "val/cycle_l1" in trainer.callback_metrics


def test_resume_restores_optimizers_schedule_and_image_pools(tmp_path):
    """A run stopped after two epochs and resumed ends exactly where an uninterrupted run does."""
    data = FixedUnpaired(count=4, size=32)
    hyper = dict(image_shape=(3, 32, 32), pool_size=3, epochs_constant=1, epochs_decay=2, **TINY)

    def fit(max_epochs: int, folder, ckpt_path=None, seed: int = 0) -> tuple[CycleGAN, LearningRates]:
        torch.manual_seed(seed)
        model, rates = CycleGAN(**hyper), LearningRates()
        trainer = tiny_trainer(folder, max_epochs, callbacks=[rates])
        trainer.fit(model, DataLoader(data, batch_size=2), DataLoader(data, batch_size=2), ckpt_path=ckpt_path)
        return model, rates

    uninterrupted, rates = fit(3, tmp_path / "whole")
    # The paper's schedule: constant for epochs_constant epochs, then linearly down (reference formula).
    assert rates.by_epoch == pytest.approx({0: 2e-4, 1: 2e-4 * 2 / 3, 2: 2e-4 / 3})

    fit(2, tmp_path / "first")
    checkpoint = torch.load(tmp_path / "first" / "last.ckpt", weights_only=True)
    assert checkpoint["image_pools"]["A"]["images"].shape == (3, 3, 32, 32)
    # Resumed into a model built from another seed: everything that matters must come from the checkpoint.
    resumed, resumed_rates = fit(3, tmp_path / "second", ckpt_path=tmp_path / "first" / "last.ckpt", seed=1)
    assert resumed_rates.by_epoch == pytest.approx({2: 2e-4 / 3})
    for name, expected in uninterrupted.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[name], expected, msg=f"{name} differs after resume")
    for pool_name in ("pool_a", "pool_b"):
        expected_pool, resumed_pool = getattr(uninterrupted, pool_name), getattr(resumed, pool_name)
        torch.testing.assert_close(torch.stack(resumed_pool.images), torch.stack(expected_pool.images))


def test_cli_trains_on_two_processes_with_no_strategy_flag_in_bf16(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONWARNINGS", "default")  # the user's default: warnings shown
    write_unpaired(tmp_path / "data", count_a=5, count_b=8, size=32)
    # RGB images offline and no FID flags, as a user types it: FID's `auto` finds no Inception weights and steps aside.
    result = run_zoo(["fit", "--model", "cyclegan", "--data", "unpaired", "--data.root", str(tmp_path / "data"),
             "--data.image_size", "32", "--data.batch_size", "2", "--data.num_workers", "0",
             "--model.generator_channels", "8", "--model.discriminator_channels", "8", "--model.resnet_blocks", "2",
             "--trainer.devices", "2", "--trainer.accelerator", "cpu",  # no strategy flag: the zoo picks DDP's mode
             "--trainer.precision", "bf16-mixed", "--trainer.log_every_n_steps", "1", *FAST_TRAINER], cwd=tmp_path)
    assert "FID is off for this run" in result.stderr
    run_dir = tmp_path / "runs" / "cyclegan" / "version_0"
    with open(run_dir / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert any(row.get("val/cycle_l1") for row in rows)
    assert any(row.get("train/d_loss") for row in rows) and any(row.get("train/g_loss") for row in rows)
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["hyper_parameters"]["_class_path"] == "zoo.models.cyclegan.CycleGAN"
    assert checkpoint["image_pools"]["B"]["images"].shape[1:] == (3, 32, 32)
    # 8 examples (the larger domain) over 2 processes in batches of 2: two batches each, one generator update per batch.
    assert checkpoint["global_step"] == 2


def test_config_holds_the_papers_settings(capsys):
    config = parsed_config("cyclegan_horse2zebra.yaml", capsys)
    assert config["model"]["class_path"] == "zoo.models.cyclegan.CycleGAN"
    model_args = config["model"]["init_args"]
    assert (model_args["lambda_cycle"], model_args["lambda_identity"], model_args["pool_size"]) == (10.0, 0.5, 50)
    assert (model_args["epochs_constant"], model_args["epochs_decay"], config["trainer"]["max_epochs"]) == (100, 100, 200)
    assert config["data"]["class_path"] == "zoo.data.unpaired.UnpairedDataModule"
