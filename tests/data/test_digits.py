"""The embedded digits: real MNIST images, offline, split the same way every time."""

from __future__ import annotations

import torch

from zoo.data.digits import DigitsDataModule


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
