"""The unpaired datamodule: CycleGAN's layout, domains of different sizes, errors that name the folder."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import FAST_TRAINER
from tests.data.image_folders import write_unpaired
from tests.data.test_paired import zoo_error_line
from zoo.data.unpaired import UnpairedDataModule
from zoo.errors import ZooError


def test_domains_of_different_sizes_cover_both_and_draw_b_at_random(tmp_path):
    write_unpaired(tmp_path, count_a=4, count_b=7, size=32)
    datamodule = UnpairedDataModule(str(tmp_path), image_size=32, batch_size=7, num_workers=0)
    assert datamodule.image_shape == (3, 32, 32)
    datamodule.setup("fit")
    # An epoch is as long as the larger domain: every B can be seen, A wraps round.
    assert len(datamodule.train_set) == 7
    batch = next(iter(datamodule.train_dataloader()))
    assert batch["A"].shape == batch["B"].shape == (7, 3, 32, 32)
    assert torch.equal(batch["A"][:, 0], batch["A"][:, 1]), "domain A is the grey photographs"
    # B is drawn per example: two epochs pair the same A with different Bs.
    dataset = datamodule.train_set
    dataset.jitter.flip = False
    dataset.jitter.load_size = 32  # no crop either, so only the draw of B can differ
    torch.manual_seed(0)
    first = torch.stack([dataset[i]["B"] for i in range(7)])
    second = torch.stack([dataset[i]["B"] for i in range(7)])
    assert not torch.equal(first, second)


def test_validation_pairing_is_fixed_by_the_seed(tmp_path):
    write_unpaired(tmp_path, count_a=3, count_b=3, size=32, test_count=4)
    datamodule = UnpairedDataModule(str(tmp_path), image_size=32, batch_size=5, num_workers=0)
    datamodule.setup("validate")
    assert len(datamodule.val_set) == 5  # testA has 4, testB 5
    first, second = next(iter(datamodule.val_dataloader())), next(iter(datamodule.val_dataloader()))
    torch.testing.assert_close(first["B"], second["B"])


def test_empty_domain_folder_is_named(tmp_path):
    write_unpaired(tmp_path, count_a=3, count_b=3, size=32)
    for path in (tmp_path / "trainB").iterdir():
        path.unlink()
    with pytest.raises(ZooError, match=r"trainB holds no images"):
        UnpairedDataModule(str(tmp_path), image_size=32).setup("fit")


def test_missing_layout_is_explained(tmp_path):
    (tmp_path / "horses").mkdir()
    with pytest.raises(ZooError, match=r"has no trainA/ and trainB/"):
        UnpairedDataModule(str(tmp_path), image_size=32).setup("fit")


def test_cli_reports_an_empty_domain_folder(tmp_path, capsys):
    write_unpaired(tmp_path / "data", count_a=3, count_b=3, size=32)
    for path in (tmp_path / "data" / "testB").iterdir():
        path.unlink()
    last_line = zoo_error_line(["fit", "--model", "cyclegan", "--data", "unpaired", "--data.root",
                                str(tmp_path / "data"), "--data.image_size", "32", *FAST_TRAINER], capsys)
    assert last_line == f"zoo: error: image folder {tmp_path / 'data' / 'testB'} " \
        "holds no images (.png, .jpg, .jpeg, .bmp, .gif, .tif, .tiff, .webp, .ppm, .pgm, .pbm)"
