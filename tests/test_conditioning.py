"""Labelled generation: conditional vae and dcgan trained through the CLI, `zoo sample --class/--per-class`
written as class folders that the `folder` datamodule reads back with the same labels."""

from __future__ import annotations

import pytest
import torch
from torchvision.utils import make_grid

from tests.conftest import FAST_TRAINER, copy_run, run_zoo, zoo_in_process
from zoo.callbacks import SampleGridCallback
from zoo.data.folder import ImageFolderDataModule
from zoo.errors import ZooError
from zoo.interfaces import ConditionalGeneration, registered_with
from zoo.models.dcgan import DCGAN
from zoo.models.vae import VAE


@pytest.fixture(scope="module")
def conditional_checkpoints(tmp_path_factory):
    """A conditional VAE and DCGAN, a few steps on digits; the class count comes from the data."""
    root = tmp_path_factory.mktemp("conditional")
    for model in ("vae", "dcgan"):
        run_zoo(["fit", "--model", model, "--data", "digits", "--model.conditional", "true", *FAST_TRAINER,
                 "--fid.every_n_epochs", "0"], cwd=root, in_process=True)
    return {model: root / "runs" / model / "version_0" / "checkpoints" / "last.ckpt" for model in ("vae", "dcgan")}


@pytest.mark.parametrize("family", ["vae", "dcgan"])
def test_conditional_checkpoint_knows_the_data_classes(conditional_checkpoints, family):
    checkpoint = torch.load(conditional_checkpoints[family], map_location="cpu", weights_only=True)
    assert checkpoint["hyper_parameters"]["num_classes"] == 10
    assert checkpoint["class_names"] == [str(digit) for digit in range(10)]


def test_per_class_samples_read_back_by_the_folder_datamodule(conditional_checkpoints, tmp_path):
    run_zoo(["sample", "--ckpt", str(conditional_checkpoints["dcgan"]), "--per-class", "3", "--out", "aug/"],
            cwd=tmp_path, in_process=True)
    assert sorted(path.name for path in (tmp_path / "aug").iterdir()) == [str(digit) for digit in range(10)]
    data = ImageFolderDataModule(str(tmp_path / "aug"), image_size=28, channels=1, val_fraction=0, test_fraction=0)
    data.setup("fit")
    assert data.num_classes == 10
    for index in (0, 7, 29):
        path, label = data.dataset.files[index], data.dataset.labels[index]
        assert data.class_names[label] == path.parent.name


def test_one_class_goes_into_its_own_folder(conditional_checkpoints, tmp_path):
    run_zoo(["sample", "--ckpt", str(conditional_checkpoints["vae"]), "--class", "3", "-n", "4", "--out", "aug/"],
            cwd=tmp_path, in_process=True)
    assert [path.name for path in (tmp_path / "aug").iterdir()] == ["3"]
    assert len(list((tmp_path / "aug" / "3").glob("*.png"))) == 4


def test_class_flags_fail_in_one_line(conditional_checkpoints, tmp_path, capsys):
    unknown = zoo_in_process(["sample", "--ckpt", str(conditional_checkpoints["vae"]), "--class", "eleven", "-n", "2",
                              "--out", "aug/"], cwd=tmp_path, capsys=capsys)
    assert unknown.returncode != 0
    assert "no such class (classes: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9)" in unknown.stderr.strip().splitlines()[-1]


def test_unconditional_checkpoint_names_the_models_that_can(tmp_path, trained_runs, capsys):
    copy_run(trained_runs("vae"), tmp_path)  # `zoo fit --model vae --data digits`: unconditional
    result = zoo_in_process(["sample", "--ckpt", "runs/vae", "--per-class", "2", "--out", "aug/"], cwd=tmp_path,
                            capsys=capsys)
    line = result.stderr.strip().splitlines()[-1]
    assert result.returncode != 0 and "needs a class-conditional model" in line and "dcgan, vae" in line


def test_conditional_without_labels_fails_naming_the_problem():
    with pytest.raises(ZooError, match="needs labelled data"):
        VAE(conditional=True)


def test_unconditional_models_are_unchanged_and_conditional_ones_offer_the_interface():
    assert VAE().state_dict().keys() == VAE(num_classes=10).state_dict().keys()  # num_classes alone changes nothing
    assert not isinstance(DCGAN(), ConditionalGeneration)
    assert isinstance(DCGAN(conditional=True, num_classes=10), ConditionalGeneration)
    assert {"vae", "dcgan"} <= set(registered_with(ConditionalGeneration))
    assert "gan" not in registered_with(ConditionalGeneration)


@pytest.mark.parametrize("family", [VAE, DCGAN])
def test_sample_draws_the_labels_asked_for(family):
    model = family(conditional=True, num_classes=10, **({"generator_features": 8} if family is DCGAN else {}))
    labels = torch.tensor([0, 3, 3, 9])
    first = model.sample(4, generator=torch.Generator().manual_seed(0), labels=labels)
    again = model.sample(4, generator=torch.Generator().manual_seed(0), labels=labels)
    other = model.sample(4, generator=torch.Generator().manual_seed(0), labels=torch.tensor([1, 1, 1, 1]))
    assert first.shape == (4, 1, 28, 28) and torch.equal(first, again) and not torch.equal(first, other)
    with pytest.raises(ZooError, match="range"):
        model.sample(2, labels=torch.tensor([0, 10]))
    with pytest.raises(ZooError, match="not class-conditional"):  # refused, not silently ignored
        family().sample(2, labels=torch.tensor([0, 1]))


def test_conditional_vae_encodes_with_the_labels_and_scores_without(conditional_checkpoints, tmp_path):
    run_zoo(["encode", "--ckpt", str(conditional_checkpoints["vae"]), "--data", "digits", "--out", "latents.npy"],
            cwd=tmp_path, in_process=True)
    run_zoo(["score", "--ckpt", str(conditional_checkpoints["vae"]), "--data", "digits", "--out", "scores.csv"],
            cwd=tmp_path, in_process=True)
    assert (tmp_path / "latents.npy").exists() and (tmp_path / "scores.csv").exists()


def test_projection_discriminator_starts_on_the_scale_of_the_unconditional_one():
    torch.manual_seed(0)
    model = DCGAN(conditional=True, num_classes=10, discriminator_features=16)
    images, labels = torch.rand(8, 1, 28, 28) * 2 - 1, torch.arange(8)
    logits = model.discriminator(images, labels)
    assert logits.shape == (8,) and logits.abs().max() < 5  # an N(0, 1) embedding gave logits in the hundreds


def test_training_grid_of_a_conditional_model_has_one_row_per_class():
    model = VAE(conditional=True, num_classes=10)
    grid = SampleGridCallback(num_samples=20, seed=3).sample_grid(model)
    assert grid.shape == (3, 10 * (28 + 2) + 2, 2 * (28 + 2) + 2)  # 10 rows (classes) of 2 images, 2 px padding
    by_class = model.sample(20, generator=torch.Generator().manual_seed(3),
                            labels=torch.tensor([0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9]))
    assert torch.equal(grid, make_grid(by_class.clamp(0, 1), nrow=2, padding=2))
    unconditional = SampleGridCallback(num_samples=20).sample_grid(VAE())
    assert unconditional.shape == (3, 4 * 30 + 2, 5 * 30 + 2)  # a square-ish grid, as before
