"""FID/KID: the maths against closed forms, the digits numbers a user relies on, and the validation callback."""

from __future__ import annotations

import csv
from types import SimpleNamespace

import lightning as L
import numpy as np
import pytest
import scipy.linalg
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from tests.conftest import FAST_TRAINER, run_zoo
from zoo.data.digits import digits_splits
from zoo.errors import ZooError
from zoo.metrics.fid import FeatureDistances, compute_fid, feature_distances
from zoo.metrics.fid_callback import FIDCallback, per_process_limit


@pytest.fixture(scope="module")
def digits():
    return digits_splits()


class Identity(nn.Module):
    """Features = the vectors themselves, so the distance is the one between the data's own Gaussians."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, vectors: torch.Tensor) -> torch.Tensor:
        return vectors


def gaussian_with_exact_moments(mean: torch.Tensor, covariance: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """n points whose sample mean and (unbiased) covariance are exactly ``mean`` and ``covariance``."""
    noise = torch.randn(n, len(mean), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    noise = noise - noise.mean(0)
    whitening = torch.linalg.cholesky(noise.T @ noise / (n - 1))
    white = torch.linalg.solve_triangular(whitening, noise.T, upper=False).T
    return mean + white @ torch.linalg.cholesky(covariance).T


def test_frechet_distance_of_two_gaussians_matches_the_closed_form():
    dims = 5
    generator = torch.Generator().manual_seed(0)
    mean_a, mean_b = torch.randn(dims, generator=generator, dtype=torch.float64), torch.zeros(dims, dtype=torch.float64)
    factor_a = torch.randn(dims, dims, generator=generator, dtype=torch.float64)
    factor_b = torch.randn(dims, dims, generator=generator, dtype=torch.float64)
    cov_a, cov_b = factor_a @ factor_a.T + 0.1 * torch.eye(dims), factor_b @ factor_b.T + 0.1 * torch.eye(dims)
    points_a = gaussian_with_exact_moments(mean_a, cov_a, 400, seed=1)
    points_b = gaussian_with_exact_moments(mean_b, cov_b, 300, seed=2)

    closed_form = float(((mean_a - mean_b) ** 2).sum()) + float(np.trace(
        cov_a.numpy() + cov_b.numpy() - 2 * scipy.linalg.sqrtm(cov_a.numpy() @ cov_b.numpy()).real))
    assert compute_fid(points_a, points_b, feature=Identity(dims)) == pytest.approx(closed_form, rel=1e-4)


def test_frechet_distance_in_one_dimension_by_hand():
    # N(0, 1) against N(3, 2^2): (0 - 3)^2 + 1 + 4 - 2 * sqrt(1 * 4) = 10.
    one = gaussian_with_exact_moments(torch.zeros(1, dtype=torch.float64), torch.eye(1, dtype=torch.float64), 100, 3)
    other = gaussian_with_exact_moments(torch.full((1,), 3.0, dtype=torch.float64),
                                        4 * torch.eye(1, dtype=torch.float64), 100, 4)
    assert compute_fid(one, other, feature=Identity(1)) == pytest.approx(10.0, rel=1e-5)


def test_fid_of_digits_with_themselves_is_zero(digits):
    val_images = digits["val"].tensors[0]
    assert abs(compute_fid(val_images, val_images, feature="digits")) < 1e-3


def test_fid_tells_noise_from_digits(digits):
    val_images, test_images = digits["val"].tensors[0], digits["test"].tensors[0]
    noise = torch.rand(test_images.shape, generator=torch.Generator().manual_seed(0))
    real_vs_real = compute_fid(val_images, test_images, feature="digits")
    real_vs_noise = compute_fid(val_images, noise, feature="auto")  # auto: digits for 1x28x28
    assert real_vs_real < 2.0  # measured 0.64 for these two 500-digit splits
    assert real_vs_noise > 30 * real_vs_real


def test_kid_is_near_zero_for_real_digits_and_uses_what_there_is(digits):
    from zoo.metrics.features import DigitsFeatureExtractor

    distances = FeatureDistances(DigitsFeatureExtractor(), kid_subset_size=100)
    distances.update(digits["val"].tensors[0][:300], real=True)
    distances.update(digits["test"].tensors[0][:60], real=False)  # fewer than a subset: KID uses subsets of 60
    results = distances.compute(seed=0)
    assert abs(results["kid"]) < 3 * results["kid_std"] + 0.05
    assert torch.equal(results["kid"], distances.compute(seed=0)["kid"])  # seeded subsets: KID repeats
    distances.reset_fake()
    assert int(distances.fid.real_features_num_samples) == 300 and int(distances.fid.fake_features_num_samples) == 0


def test_feature_distances_give_compute_fids_fid_and_a_kid_that_tells_noise_from_digits(digits):
    val_images, test_images = digits["val"].tensors[0], digits["test"].tensors[0]
    noise = torch.rand(test_images.shape, generator=torch.Generator().manual_seed(0))
    itself = feature_distances(val_images, val_images, feature="digits")
    real_vs_real = feature_distances(val_images, test_images, feature="digits")
    real_vs_noise = feature_distances(val_images, noise, feature="digits")
    assert set(itself) == {"fid", "kid", "kid_std"}
    assert real_vs_real["fid"] == compute_fid(val_images, test_images, feature="digits")  # one path for both
    # KID's subsets differ on each side, so a set against itself is 0 within the subsets' spread, not exactly.
    assert abs(itself["kid"]) < 3 * itself["kid_std"] and abs(real_vs_real["kid"]) < 3 * real_vs_real["kid_std"]
    assert real_vs_noise["kid"] > 10 * real_vs_real["kid_std"]  # measured 1.42 against a spread of 0.05
    assert feature_distances(val_images, noise, feature="digits", seed=0) == real_vs_noise  # seeded subsets repeat
    assert "kid" not in feature_distances(val_images, noise, feature="digits", kid_subset_size=None)


def test_images_of_one_per_batch_reach_the_feature_network_in_full_batches(digits):
    """Translation families validate one image per batch; their FID extracts features batch_size at a time."""
    from zoo.metrics.features import DigitsFeatureExtractor

    extractor = DigitsFeatureExtractor()
    passes = []
    extractor.register_forward_hook(lambda module, inputs, output: passes.append(len(inputs[0])))
    batched = FeatureDistances(extractor, kid_subset_size=None, batch_size=16)
    for real_image, fake_image in zip(digits["val"].tensors[0][:40], digits["test"].tensors[0][:40], strict=True):
        batched.update(real_image[None], real=True)
        batched.update(fake_image[None], real=False)
    fid = batched.compute()["fid"]
    assert sorted(passes) == [8, 8, 16, 16, 16, 16]  # two full batches a side, then the 8 left when read
    at_once = FeatureDistances(DigitsFeatureExtractor(), kid_subset_size=None)
    at_once.update(digits["val"].tensors[0][:40], real=True)
    at_once.update(digits["test"].tensors[0][:40], real=False)
    torch.testing.assert_close(fid, at_once.compute()["fid"])


def test_kid_subsets_leave_the_global_generators_alone(monkeypatch):
    """KID's subsets are seeded without torch.manual_seed, which would reseed every CUDA generator too."""

    def reseeding_everything(seed):
        raise AssertionError("torch.manual_seed called during evaluation: it reseeds the CUDA generators")

    def kid_of(seed: int) -> torch.Tensor:
        distances = FeatureDistances(Identity(4), kid_subset_size=20)
        distances.update(torch.randn(60, 4, generator=torch.Generator().manual_seed(1)), real=True)
        distances.update(torch.randn(60, 4, generator=torch.Generator().manual_seed(2)) + 0.5, real=False)
        return distances.compute(seed=seed)["kid"]

    monkeypatch.setattr(torch, "manual_seed", reseeding_everything)
    training_stream = torch.get_rng_state()
    first = kid_of(seed=0)
    assert torch.equal(torch.get_rng_state(), training_stream)  # the CPU stream is restored, not advanced
    assert torch.equal(first, kid_of(seed=0)) and not torch.equal(first, kid_of(seed=1))


# ---------------------------------------------------------------- the callback during training


class NoisyDigits(L.LightningModule):
    """A stand-in generator: real training digits plus noise whose size training shrinks, so FID must fall."""

    def __init__(self, bank: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("bank", bank)
        self.noise_level = nn.Parameter(torch.tensor(0.6))
        self.image_shape = tuple(bank.shape[1:])
        self.training_steps = 0

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        picks = torch.randint(len(self.bank), (n,), generator=generator)
        noise = torch.randn(n, *self.image_shape, generator=generator)
        return (self.bank[picks.to(self.device)] + self.noise_level.abs() * noise.to(self.device)).clamp(0, 1)

    def training_step(self, batch, batch_idx):
        self.training_steps += 1
        return self.noise_level.abs()

    def validation_step(self, batch, batch_idx):
        pass

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class Encoder(NoisyDigits):
    """No ``sample``, no ``translate``: FID has nothing to judge."""

    sample = None


class Translator(NoisyDigits):
    """Paired translation stand-in: returns its input, so FID(translate(A), B) compares two digit splits."""

    sample = None

    def translate(self, images: torch.Tensor, direction: str = "AtoB") -> torch.Tensor:
        return images


class PairedDigits(Dataset):
    def __init__(self, a: torch.Tensor, b: torch.Tensor) -> None:
        self.a, self.b = a, b

    def __len__(self) -> int:
        return len(self.a)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"A": self.a[index], "B": self.b[index]}


class RecordFID(L.Callback):
    def __init__(self) -> None:
        self.values: list[float] = []

    def on_validation_end(self, trainer, pl_module) -> None:
        if "val/fid" in trainer.callback_metrics:
            self.values.append(float(trainer.callback_metrics["val/fid"]))


def loaders(digits) -> tuple[DataLoader, DataLoader]:
    """Train and validation loaders over the module-scoped digits (loading them again costs seconds)."""
    return DataLoader(digits["train"], batch_size=50, shuffle=True), DataLoader(digits["val"], batch_size=50)


def fast_trainer(*callbacks: L.Callback, max_epochs: int = 2, **overrides) -> L.Trainer:
    settings = dict(max_epochs=max_epochs, limit_train_batches=2, limit_val_batches=4, num_sanity_val_steps=1,
                    accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                    enable_progress_bar=False, enable_model_summary=False)
    return L.Trainer(callbacks=list(callbacks), **{**settings, **overrides})


def test_generative_model_logs_val_fid_with_real_statistics_computed_once(digits):
    fid = FIDCallback(num_samples=200, kid_subset_size=50, batch_size=100, every_n_epochs=1)
    record = RecordFID()
    model = NoisyDigits(digits["train"].tensors[0][:500])
    trainer = fast_trainer(fid, record)
    trainer.fit(model, *loaders(digits))

    assert {"val/fid", "val/kid"} <= set(trainer.callback_metrics)
    assert len(record.values) == 2 and record.values[1] < record.values[0]  # less noise, lower FID
    # Real statistics: the 4 x 50 validation digits of the first validation, kept, not re-added (nor the sanity batch).
    assert fid.real_statistics_passes == 1
    assert int(fid.distances.fid.real_features_num_samples) == 200

    # Fixed seeds: the same model scores the same FID every time it is validated.
    first = trainer.validate(model, loaders(digits)[1], verbose=False)[0]["val/fid"]
    again = trainer.validate(model, loaders(digits)[1], verbose=False)[0]["val/fid"]
    assert first == again == pytest.approx(record.values[-1], rel=1e-5)


def test_fid_comes_every_n_epochs_and_at_the_last_epoch_with_real_statistics_extracted_once(digits):
    """The default schedule: FID on every n-th epoch (its cost, measured, stays near 10% of training) and on the
    fit's last epoch, so every run ends with a FID; the real images' features are extracted at the first only."""
    fid = FIDCallback(num_samples=100, kid=False, batch_size=100, every_n_epochs=2)

    class EpochsWithFID(L.Callback):
        epochs: list[int] = []

        def on_validation_end(self, trainer, pl_module) -> None:
            if trainer.callback_metrics.pop("val/fid", None) is not None:  # popped: each epoch's own, or none
                self.epochs.append(trainer.current_epoch)

    record = EpochsWithFID()
    trainer = fast_trainer(fid, record, max_epochs=5, num_sanity_val_steps=0)
    trainer.fit(NoisyDigits(digits["train"].tensors[0][:100]), *loaders(digits))
    assert record.epochs == [1, 3, 4]
    assert fid.real_statistics_passes == 1 and int(fid.distances.fid.real_features_num_samples) == 200


def test_model_without_sample_or_translate_gets_nothing(digits):
    fid = FIDCallback(feature="inception")  # would fail offline if it were ever built
    trainer = fast_trainer(fid, max_epochs=1)
    trainer.fit(Encoder(digits["train"].tensors[0][:10]), *loaders(digits))
    assert "val/fid" not in trainer.callback_metrics and fid.distances is None


def test_translation_model_logs_fid_of_translated_a_against_b(digits):
    pairs = PairedDigits(digits["val"].tensors[0], digits["test"].tensors[0])
    fid = FIDCallback(num_samples=150, kid=False)
    trainer = fast_trainer(fid, max_epochs=1)
    trainer.fit(Translator(digits["train"].tensors[0][:10]), train_dataloaders=DataLoader(pairs, batch_size=50),
                val_dataloaders=DataLoader(pairs, batch_size=50))
    assert "val/fid" in trainer.callback_metrics and "val/kid" not in trainer.callback_metrics
    assert int(fid.distances.fid.real_features_num_samples) == 200  # every B of the 4 batches
    assert int(fid.distances.fid.fake_features_num_samples) == 0  # reset after logging; 150 were used
    assert float(trainer.callback_metrics["val/fid"]) < 5.0  # two real digit splits are close


def test_auto_without_inception_weights_warns_once_and_trains_without_fid(digits, monkeypatch, tmp_path):
    """An RGB run offline: the user asked to train, so `auto` FID steps aside with the fixes, once."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch_home"))
    model = NoisyDigits(torch.rand(10, 3, 32, 32))  # auto: inception for anything but 1x28x28
    trainer = fast_trainer(FIDCallback(), max_epochs=2)
    with pytest.warns(UserWarning, match="FID is off for this run") as warned:
        trainer.fit(model, *loaders(digits))
    messages = [str(warning.message) for warning in warned if "FID is off" in str(warning.message)]
    assert len(messages) == 1 and "--fid.inception_weights PATH" in messages[0]
    assert model.training_steps > 0 and "val/fid" not in trainer.callback_metrics


def test_inception_asked_for_by_name_without_weights_fails_before_training(digits, monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch_home"))
    model = NoisyDigits(torch.rand(10, 3, 32, 32))
    with pytest.raises(ZooError, match="--fid.inception_weights PATH"):
        fast_trainer(FIDCallback(feature="inception"), max_epochs=1).fit(model, *loaders(digits))
    assert model.training_steps == 0


def test_distributed_padding_is_not_counted_and_samples_do_not_depend_on_process_count():
    # The sampler pads 501 images to 502: rank 0 gets 251 real ones, rank 1 250 and the repeat, left out.
    def limit(rank: int, loader: DataLoader) -> int:
        return per_process_limit(SimpleNamespace(world_size=2, global_rank=rank, val_dataloaders=loader))

    images = list(range(501))
    sharded = [DataLoader(images, sampler=DistributedSampler(images, num_replicas=2, rank=rank, shuffle=False))
               for rank in (0, 1)]
    assert [limit(rank, sharded[rank]) for rank in (0, 1)] == [251, 250]
    # A loader that shards by itself (litdata's: its dataset holds this process's share, no repeats) is not capped.
    own_share = DataLoader(list(range(250)))
    assert limit(1, own_share) >= 250

    class Seeded(nn.Module):
        def sample(self, n, generator=None):
            return torch.rand(n, 1, 2, 2, generator=generator)

    # 100 samples fit in one batch of 250: every process must still get some, or KID's gather crashes.
    for num_samples, batch_size in ((250, 60), (100, 250), (7, 3)):
        fid = FIDCallback(num_samples=num_samples, batch_size=batch_size)
        single = torch.cat(list(fid._sample_batches(Seeded(), rank=0, world_size=1)))
        assert len(single) == num_samples
        for world_size in (2, 3, 4):
            split = [torch.cat(list(fid._sample_batches(Seeded(), rank=rank, world_size=world_size)))
                     for rank in range(world_size)]
            assert all(len(part) >= num_samples // world_size for part in split)
            assert torch.equal(torch.cat(split), single)  # the same images, in the same order


def test_few_samples_on_two_processes_log_fid_and_kid(tmp_path):
    # 100 samples are one batch of the default 250: before the fix the second process had none and the run died.
    run_zoo(["fit", "--model", "gan", "--data", "digits", "--data.batch_size", "16", "--fid.num_samples", "100",
             *FAST_TRAINER, "--trainer.strategy", "ddp", "--trainer.devices", "2", "--trainer.accelerator", "cpu"],
            cwd=tmp_path)
    with open(tmp_path / "runs" / "gan" / "version_0" / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert any(row.get("val/fid") for row in rows) and any(row.get("val/kid") for row in rows)


def test_bad_settings_are_refused():
    with pytest.raises(ZooError, match="num_samples"):
        FIDCallback(num_samples=1)
    with pytest.raises(ZooError, match="every_n_epochs"):
        FIDCallback(every_n_epochs=-1)
    with pytest.raises(ZooError, match="at least the number of processes"):
        FIDCallback(num_samples=3).setup(SimpleNamespace(world_size=4), NoisyDigits(torch.rand(2, 1, 28, 28)), "fit")


def test_sampling_for_fid_shows_as_a_row_of_the_progress_bar(digits, monkeypatch):
    from lightning.pytorch.callbacks import RichProgressBar
    from rich.progress import Progress

    rows: list[tuple[str, float]] = []
    add_task = Progress.add_task

    def recording_add_task(progress, description, *args, **kwargs):
        rows.append((str(description), kwargs.get("total", args[1] if len(args) > 1 else None)))
        return add_task(progress, description, *args, **kwargs)

    monkeypatch.setattr(Progress, "add_task", recording_add_task)
    fid = FIDCallback(num_samples=120, kid=False, batch_size=50)
    trainer = fast_trainer(fid, RichProgressBar(), max_epochs=1, enable_progress_bar=True)
    trainer.fit(NoisyDigits(digits["train"].tensors[0][:500]), *loaders(digits))
    assert ("FID: sampling + features", 120) in rows
    assert "val/fid" in trainer.callback_metrics


def test_a_run_draws_the_same_random_numbers_with_fid_on_or_off(tmp_path):
    """FID's network, samples and KID subsets leave training's random stream where it was (tests/test_gpu.py: CUDA's)."""
    from zoo.training.cli import run_cli

    def stream_after(*fid_flags: str) -> torch.Tensor:
        run_cli(["fit", "--model", "vae", "--data", "digits", "--data.num_workers", "0", "--trainer.max_epochs", "2",
                 "--trainer.limit_train_batches", "3", "--trainer.limit_val_batches", "2",
                 "--trainer.num_sanity_val_steps", "0", "--trainer.enable_progress_bar", "false",
                 "--trainer.enable_model_summary", "false", "--fid.num_samples", "64",
                 "--trainer.default_root_dir", str(tmp_path / str(len(fid_flags))), *fid_flags])
        return torch.get_rng_state()

    assert torch.equal(stream_after(), stream_after("--fid.every_n_epochs", "0"))
