"""One-class training: ``--data.normal_classes`` keeps the normal classes in train and val, every class in test."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import run_zoo, zoo_in_process
from tests.data.test_folder import write_images
from tests.data.test_torchvision_sets import write_idx_mnist
from zoo.data.base import dataset_labels
from zoo.data.folder import ImageFolderDataModule
from zoo.data.torchvision_sets import MNISTDataModule
from zoo.errors import ZooError


def split_labels(data) -> dict[str, set[int]]:
    return {split: set(dataset_labels(getattr(data, f"{split}_set")).tolist()) for split in ("train", "val", "test")}


def test_digits_through_the_cli_train_and_val_hold_the_normal_class_test_holds_all(tmp_path, trained_autoencoder):
    # `zoo encode` builds the datamodule exactly as `zoo fit` does and writes the labels of a split.
    checkpoint = trained_autoencoder  # any autoencoder of the digits: the flags choose the classes
    for split, expected in (("train", {3}), ("val", {3}), ("test", set(range(10)))):
        run_zoo(["encode", "--ckpt", str(checkpoint), "--data", "digits", "--data.normal_classes", "[3]",
                 "--split", split, "--out", f"{split}.npy"], cwd=tmp_path, in_process=True)
        labels = np.load(tmp_path / f"{split}.labels.npy")
        assert set(labels.tolist()) == expected, split
    assert len(np.load(tmp_path / "train.labels.npy")) == 412  # every 3 of the 4,000 training digits
    assert len(np.load(tmp_path / "test.labels.npy")) == 500


def test_mnist_keeps_classes_by_index_or_name(tmp_path):
    write_idx_mnist(tmp_path, train_count=200, test_count=50)
    by_index = MNISTDataModule(root=str(tmp_path), num_workers=0, normal_classes=[3, 5])
    by_index.setup()
    by_name = MNISTDataModule(root=str(tmp_path), num_workers=0, normal_classes=["3 - three", "5 - five"])
    by_name.setup()
    assert split_labels(by_index) == split_labels(by_name)
    assert split_labels(by_index)["train"] == {3, 5} and split_labels(by_index)["val"] == {3, 5}
    assert len(split_labels(by_index)["test"]) > 2


def test_folder_classes_by_folder_name_and_file_lists_follow_the_filter(tmp_path):
    write_images(tmp_path / "good", 20, mode="L")
    write_images(tmp_path / "scratched", 10, mode="L")
    data = ImageFolderDataModule(str(tmp_path), image_size=8, channels=1, num_workers=0, normal_classes=["good"])
    data.setup()
    assert split_labels(data)["train"] == {0} and split_labels(data)["val"] == {0}
    assert split_labels(data)["test"] == {0, 1}
    assert all(path.parent.name == "good" for path in data.files("train"))


def test_an_unknown_class_and_an_emptied_split_fail_in_one_line(tmp_path, capsys):
    unknown = zoo_in_process(["fit", "--model", "autoencoder", "--data", "digits", "--data.normal_classes", "[12]",
                              "--trainer.max_steps", "1"], cwd=tmp_path, capsys=capsys)
    assert unknown.returncode == 2 and "Traceback" not in unknown.stderr
    assert unknown.stderr.strip().splitlines()[-1] == (
        "zoo: error: normal_classes: digits has no class 12 (classes found: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9)")
    write_images(tmp_path / "data" / "good", 20, mode="L")
    write_images(tmp_path / "data" / "rare", 1, mode="L")  # one image: at most one split holds it
    emptied = zoo_in_process(["fit", "--model", "autoencoder", "--data", "folder", "--data.root",
                              str(tmp_path / "data"), "--data.channels", "1", "--data.image_size", "8",
                              "--data.normal_classes", "[rare]", "--trainer.max_steps", "1"], cwd=tmp_path,
                             capsys=capsys)
    assert emptied.returncode == 2 and "Traceback" not in emptied.stderr
    last = emptied.stderr.strip().splitlines()[-1]
    assert last.startswith("zoo: error: normal_classes ['rare'] leaves the ") and "split of folder empty" in last
    assert "(classes found in it: good)" in last
    with pytest.raises(ZooError, match="has no class sub-folders"):
        ImageFolderDataModule(str(tmp_path / "data" / "good"), normal_classes=[0], num_workers=0).setup()


def test_streaming_serves_data_prepared_one_class_and_refuses_other_classes(tmp_path, capsys):
    out = tmp_path / "threes"
    run_zoo(["prepare", "--data", "digits", "--data.normal_classes", "[3]", "--out", str(out), "--num-workers", "1"],
            cwd=tmp_path)
    from zoo.data.streaming import StreamingDataModule

    data = StreamingDataModule(str(out), num_workers=0, normal_classes=[3])
    data.setup("fit")
    data.setup("test")
    datasets = {split: getattr(data, f"{split}_set") for split in ("train", "val", "test")}
    labels = {split: {int(dataset[index][1]) for index in range(len(dataset))} for split, dataset in datasets.items()}
    assert labels == {"train": {3}, "val": {3}, "test": set(range(10))} and data.normal_class_ids == [3]
    refused = zoo_in_process(["fit", "--model", "autoencoder", "--data", "streaming", "--data.root", str(out),
                              "--data.normal_classes", "[4]", "--trainer.max_steps", "1"], cwd=tmp_path, capsys=capsys)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert ("hold classes 3 (classes found: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9); streaming cannot drop items, so prepare "
            "a one-class copy: zoo prepare --data digits --data.normal_classes [4] --out DIR") in refused.stderr
