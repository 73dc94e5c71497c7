"""The embedded digits: real MNIST images, offline, split the same way every time."""

from __future__ import annotations

import pytest
import torch

from zoo.data.digits import DigitsDataModule
from zoo.errors import ZooError


def test_digits_are_unit_range_nchw_with_a_deterministic_split():
    data = DigitsDataModule(batch_size=32)
    data.setup()
    assert (len(data.train_set), len(data.val_set), len(data.test_set)) == (4000, 500, 500)
    images, labels = next(iter(data.val_dataloader()))
    assert images.shape == (32, 1, 28, 28) and images.dtype == torch.float32
    assert images.min() >= 0 and images.max() <= 1 and images.max() > 0.9
    assert labels.dtype == torch.long and set(labels.tolist()) <= set(range(10))
    again = DigitsDataModule(batch_size=32)
    again.setup()
    assert torch.equal(next(iter(again.val_dataloader()))[0], images)
    assert data.image_shape == (1, 28, 28) and data.num_classes == 10


def test_splits_do_not_overlap_and_cover_every_class():
    data = DigitsDataModule()
    data.setup()
    train, val = data.train_set.tensors[0], data.val_set.tensors[0]
    assert not (train[:, None].flatten(2) == val[None, :50].flatten(2)).all(-1).any()
    assert set(data.val_set.tensors[1].tolist()) == set(range(10))


def test_image_size_resizes_for_models_that_want_32_pixels():
    data = DigitsDataModule(image_size=32, batch_size=8)
    data.setup()
    assert data.image_shape == (1, 32, 32)
    assert next(iter(data.train_dataloader()))[0].shape == (8, 1, 32, 32)


def test_batches_are_page_locked_for_a_gpu_run_only():
    """pin_memory follows the run's device, not the machine's: a CPU run on a GPU machine locks nothing."""
    from types import SimpleNamespace

    pinned = {}
    for device in ("cpu", "cuda"):
        datamodule = DigitsDataModule(batch_size=8)
        datamodule.trainer = SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device(device)))
        datamodule.setup("fit")
        pinned[device] = datamodule.val_dataloader().pin_memory
    assert pinned == {"cpu": False, "cuda": True}
def test_binarize_draws_black_and_white_pixels_fixed_for_evaluation_and_fresh_for_training():
    data = DigitsDataModule(batch_size=500, binarize="dynamic")
    data.setup()
    grey = data.test_set.tensors[0]
    test = next(iter(data.test_dataloader()))[0]
    assert set(test.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(next(iter(data.test_dataloader()))[0], test)  # evaluation: one fixed draw
    assert abs(test.mean() - grey.mean()) < 0.01  # Bernoulli(grey): the mean grey level survives
    first, second = (torch.cat([batch[0] for batch in data.train_dataloader()]).sum() for _ in range(2))
    assert first != second  # dynamic: a new draw every epoch
    fixed = DigitsDataModule(batch_size=4000, binarize="fixed")
    fixed.setup()
    first, second = (torch.cat([batch[0] for batch in fixed.train_dataloader()]).sum() for _ in range(2))
    assert first == second  # fixed: the same draw every epoch (in another shuffled order)


def test_translate_shifts_training_digits_by_whole_pixels_and_never_evaluation_digits():
    data = DigitsDataModule(batch_size=500, translate=2)
    data.setup()
    shifted_set, originals = data.train_dataloader().dataset, data.train_set.tensors[0]
    moved = 0
    for index in range(50):
        shifted, label = shifted_set[index]
        original = originals[index]
        assert label == data.train_set.tensors[1][index]
        # A pure translation of at most 2 pixels each way: one of the 25 crops of the zero-padded digit.
        padded = torch.nn.functional.pad(original, (2, 2, 2, 2))
        crops = [padded[:, top : top + 28, left : left + 28] for top in range(5) for left in range(5)]
        assert any(torch.equal(shifted, crop) for crop in crops)
        if not original[:, :2].any() and not original[:, -2:].any() and not original[..., :2].any() \
                and not original[..., -2:].any():
            assert torch.isclose(shifted.sum(), original.sum())  # inside the frame: no stroke lost
        moved += not torch.equal(shifted, original)
    assert moved > 35  # 24 of 25 shifts move the digit
    for loader, split in ((data.val_dataloader(), data.val_set), (data.test_dataloader(), data.test_set)):
        assert torch.equal(next(iter(loader))[0], split.tensors[0][:500])  # evaluation: the digits as they are


def test_translate_with_dynamic_binarization_shifts_then_draws_pixels():
    data = DigitsDataModule(batch_size=4000, translate=1, binarize="dynamic")
    data.setup()
    images = next(iter(data.train_dataloader()))[0]
    assert set(images.unique().tolist()) == {0.0, 1.0}
    assert abs(images.mean() - data.train_set.tensors[0].mean()) < 0.01


@pytest.mark.parametrize("translate", [-1, 1.5, True])
def test_translate_refuses_what_is_not_a_whole_number_of_pixels(translate):
    with pytest.raises(ZooError, match=f"translate must be a whole number of pixels >= 0, got {translate!r}"):
        DigitsDataModule(translate=translate)


def test_thin_and_bold_digits_are_unpaired_domains_where_bold_is_the_max_pool_of_thin(tmp_path):
    from torchvision.io import ImageReadMode, read_image

    from zoo.data.digits import digits_splits, write_thin_and_bold_digits

    write_thin_and_bold_digits(tmp_path)
    counts = {folder.name: len(list(folder.glob("*.png"))) for folder in tmp_path.iterdir()}
    assert counts == {"trainA": 2000, "trainB": 2000, "testA": 250, "testB": 250}
    val_images = digits_splits()["val"].tensors[0]
    thin = read_image(str(tmp_path / "testA" / "0000.png"), ImageReadMode.GRAY).float() / 255
    bold = read_image(str(tmp_path / "testB" / "0000.png"), ImageReadMode.GRAY).float() / 255
    # A and B come from different digits (even and odd positions), B thickened: more ink than its own thin digit.
    assert torch.allclose(thin, val_images[0], atol=1 / 255)
    expected_bold = torch.nn.functional.max_pool2d(val_images[1:2], kernel_size=3, stride=1, padding=1)[0]
    assert torch.allclose(bold, expected_bold, atol=1 / 255)
    assert (bold > 0.5).sum() > (val_images[1] > 0.5).sum()
