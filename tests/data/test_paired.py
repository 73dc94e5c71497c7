"""The paired datamodule: both pix2pix layouts, the joint jitter, and errors that name the bad file."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import FAST_TRAINER
from tests.data.image_folders import write_folder_pairs, write_side_by_side
from zoo.cli import main
from zoo.data.paired import PairedDataModule
from zoo.errors import ZooError


def first_batch(datamodule: PairedDataModule, split: str = "val") -> dict[str, torch.Tensor]:
    datamodule.setup("fit")
    loader = datamodule.train_dataloader() if split == "train" else datamodule.val_dataloader()
    return next(iter(loader))


def test_side_by_side_layout_splits_each_image_into_a_and_b(tmp_path):
    paths = write_side_by_side(tmp_path / "train", 6, 32)
    write_side_by_side(tmp_path / "val", 3, 32)
    datamodule = PairedDataModule(str(tmp_path), image_size=32, batch_size=3, num_workers=0)
    assert datamodule.image_shape == (3, 32, 32)
    batch = first_batch(datamodule)
    assert set(batch) == {"A", "B"} and batch["A"].shape == batch["B"].shape == (3, 3, 32, 32)
    assert batch["A"].dtype == torch.float32 and 0 <= batch["A"].min() and batch["B"].max() <= 1
    # Validation does not jitter: A is exactly the left (grey) half of the first val file, B the right half.
    side_by_side = np.asarray(Image.open(sorted((tmp_path / "val").iterdir())[0]), dtype=np.float32) / 255
    torch.testing.assert_close(batch["A"][0], torch.from_numpy(side_by_side[:, :32]).permute(2, 0, 1))
    torch.testing.assert_close(batch["B"][0], torch.from_numpy(side_by_side[:, 32:]).permute(2, 0, 1))
    assert len(datamodule.train_set) == len(paths)


def test_folder_layout_matches_by_name_and_direction_swaps(tmp_path):
    write_folder_pairs(tmp_path / "train", 5, 32)
    write_folder_pairs(tmp_path / "val", 2, 32)
    forward = first_batch(PairedDataModule(str(tmp_path), image_size=32, batch_size=2, num_workers=0))
    backward = first_batch(PairedDataModule(str(tmp_path), direction="BtoA", image_size=32, batch_size=2,
                                            num_workers=0))
    # A is the grey photo: its three channels are equal; B is in colour.
    assert torch.equal(forward["A"][:, 0], forward["A"][:, 1]) and not torch.equal(forward["B"][:, 0],
                                                                                    forward["B"][:, 1])
    torch.testing.assert_close(backward["A"], forward["B"])
    torch.testing.assert_close(backward["B"], forward["A"])


def test_training_jitter_is_identical_for_a_and_b(tmp_path):
    # A pair of identical halves stays identical only if A and B get the same crop and flip.
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        (tmp_path / split).mkdir()
        for index in range(8):
            half = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
            Image.fromarray(np.concatenate([half, half], axis=1)).save(tmp_path / split / f"{index}.png")
    datamodule = PairedDataModule(str(tmp_path), layout="side_by_side", image_size=32, load_size=40,
                                  batch_size=8, num_workers=0)
    datamodule.setup("fit")
    torch.manual_seed(0)
    batch = next(iter(datamodule.train_dataloader()))
    assert batch["A"].shape == (8, 3, 32, 32)
    torch.testing.assert_close(batch["A"], batch["B"])
    # ... and the jitter is random: drawing the same examples again gives other crops or flips.
    second_draw = torch.stack([datamodule.train_set[i]["A"] for i in range(8)])
    assert not torch.equal(second_draw, batch["A"])


def test_train_loader_uses_worker_processes(tmp_path):
    write_side_by_side(tmp_path / "train", 4, 32)
    write_side_by_side(tmp_path / "val", 2, 32)
    datamodule = PairedDataModule(str(tmp_path), image_size=32, batch_size=2, num_workers=2)
    datamodule.setup("fit")
    loader = datamodule.train_dataloader()
    assert loader.num_workers == 2
    assert sum(batch["A"].shape[0] for batch in loader) == 4


def test_odd_width_side_by_side_image_is_named(tmp_path):
    write_side_by_side(tmp_path / "train", 3, 32)
    Image.new("RGB", (65, 32)).save(tmp_path / "train" / "odd.png")
    with pytest.raises(ZooError, match=r"odd\.png is 65 px wide"):
        PairedDataModule(str(tmp_path), image_size=32).setup("fit")


def test_unmatched_name_is_named(tmp_path):
    write_folder_pairs(tmp_path / "train", 3, 32)
    Image.new("RGB", (32, 32)).save(tmp_path / "train" / "A" / "lonely.png")
    with pytest.raises(ZooError, match=r"A/lonely\.png has no file of the same name in .*train/B"):
        PairedDataModule(str(tmp_path), image_size=32).setup("fit")


def test_non_image_and_unreadable_files_are_named(tmp_path):
    write_side_by_side(tmp_path / "train", 3, 32)
    (tmp_path / "train" / "notes.txt").write_text("not a picture")
    with pytest.raises(ZooError, match=r"notes\.txt is not an image file"):
        PairedDataModule(str(tmp_path), image_size=32).setup("fit")
    (tmp_path / "train" / "notes.txt").unlink()
    (tmp_path / "train" / "broken.jpg").write_bytes(b"not a jpeg at all")
    with pytest.raises(ZooError, match=r"broken\.jpg is not a readable image"):
        PairedDataModule(str(tmp_path), image_size=32).setup("fit")


def test_missing_split_and_empty_folder_are_named(tmp_path):
    with pytest.raises(ZooError, match="has no train/ folder"):
        PairedDataModule(str(tmp_path), image_size=32).setup("fit")
    (tmp_path / "train" / "A").mkdir(parents=True)
    (tmp_path / "train" / "B").mkdir()
    with pytest.raises(ZooError, match=r"train/A holds no images"):
        PairedDataModule(str(tmp_path), image_size=32).setup("fit")


def zoo_error_line(argv: list[str], capsys) -> str:
    """Run the `zoo` entry point in this process (quicker than a subprocess); return its one error line."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    last_line = capsys.readouterr().err.strip().splitlines()[-1]
    assert last_line.startswith("zoo: error: ")
    return last_line


def test_cli_reports_mismatched_pair_by_file_name(tmp_path, capsys):
    write_folder_pairs(tmp_path / "data" / "train", 3, 32)
    write_folder_pairs(tmp_path / "data" / "val", 2, 32)
    (tmp_path / "data" / "train" / "B" / "0002.jpg").rename(tmp_path / "data" / "train" / "B" / "0009.jpg")
    last_line = zoo_error_line(["fit", "--model", "pix2pix", "--data", "paired", "--data.root",
                                str(tmp_path / "data"), "--data.image_size", "32", *FAST_TRAINER], capsys)
    assert "train/A/0002.png has no file of the same name" in last_line
