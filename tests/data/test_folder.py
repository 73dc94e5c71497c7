"""Any folder of images: class sub-folders become labels, broken files fail by name."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from zoo.data.folder import ImageFolderDataModule
from zoo.errors import ZooError


def write_images(folder, count, size=(40, 30), mode="RGB", suffix=".png"):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(str(folder)))
    for index in range(count):
        shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
        Image.fromarray(rng.integers(0, 256, size=shape, dtype=np.uint8), mode).save(folder / f"{index:03d}{suffix}")


def test_class_subfolders_become_labels_and_images_are_resized_squares(tmp_path):
    write_images(tmp_path / "cats", 6)
    write_images(tmp_path / "dogs", 4, mode="L", suffix=".jpg")
    data = ImageFolderDataModule(str(tmp_path), image_size=16, channels=3, batch_size=4, num_workers=0)
    data.setup()
    assert data.class_names == ["cats", "dogs"] and data.num_classes == 2
    assert len(data.train_set) + len(data.val_set) + len(data.test_set) == 10
    images, labels = next(iter(data.train_dataloader()))
    assert images.shape == (4, 3, 16, 16) and 0 <= images.min() and images.max() <= 1
    assert set(labels.tolist()) <= {0, 1}
    assert all(path.suffix in (".png", ".jpg") for path in data.files("test"))


def test_greyscale_channel_option(tmp_path):
    write_images(tmp_path, 5)
    data = ImageFolderDataModule(str(tmp_path), image_size=8, channels=1, batch_size=2, num_workers=0)
    data.setup()
    assert data.image_shape == (1, 8, 8)
    assert next(iter(data.val_dataloader()))[0].shape[1:] == (1, 8, 8)


def test_empty_missing_and_broken_folders_are_named(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ZooError, match=f"image folder {tmp_path / 'empty'} holds no images"):
        ImageFolderDataModule(str(tmp_path / "empty")).setup()
    with pytest.raises(ZooError, match="does not exist"):
        ImageFolderDataModule(str(tmp_path / "nowhere")).setup()
    write_images(tmp_path / "broken", 3)
    (tmp_path / "broken" / "truncated.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(ZooError, match="truncated.png is not a readable image"):
        ImageFolderDataModule(str(tmp_path / "broken")).setup()


def test_same_split_on_every_run(tmp_path):
    write_images(tmp_path, 20)
    first, second = (ImageFolderDataModule(str(tmp_path), num_workers=0) for _ in range(2))
    first.setup(), second.setup()
    assert first.files("val") == second.files("val")
    assert torch.equal(next(iter(first.val_dataloader()))[0], next(iter(second.val_dataloader()))[0])


def test_worker_count_is_decided_where_the_run_starts_not_written_into_its_config(tmp_path):
    """``num_workers`` defaults to None: config.yaml keeps null, so a config from another machine does not pin it."""
    import yaml

    from tests.data.image_folders import write_images
    from zoo.training.cli import run_cli
    from zoo.data.base import default_num_workers

    write_images(tmp_path / "images", count=12, size=28, grey=True)
    cli = run_cli(["fit", "--model", "autoencoder", "--data", "folder", "--data.root", str(tmp_path / "images"),
                   "--data.channels", "1", "--data.image_size", "28", "--trainer.max_steps", "1", "--trainer.limit_val_batches", "0",
                   "--trainer.enable_progress_bar", "false", "--trainer.default_root_dir", str(tmp_path / "runs")])
    assert cli.datamodule.num_workers == default_num_workers()
    config = yaml.safe_load(next((tmp_path / "runs").rglob("config.yaml")).read_text())
    assert config["data"]["init_args"]["num_workers"] is None
def test_class_count_is_known_before_setup_for_conditional_models(tmp_path):
    from tests.data.image_folders import write_images

    for name in ("cat", "dog", "eel"):
        write_images(tmp_path / "classes" / name, count=2, size=8, seed=1)
    write_images(tmp_path / "flat", count=2, size=8)
    assert ImageFolderDataModule(str(tmp_path / "classes")).num_classes == 3  # the CLI links it when building
    assert ImageFolderDataModule(str(tmp_path / "flat")).num_classes is None
    assert ImageFolderDataModule(str(tmp_path / "missing")).num_classes is None  # setup names the problem
