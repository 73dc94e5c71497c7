"""Anomaly detection end to end: a one-class fit stores its threshold, `zoo score` decides, measures and draws maps."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import FAST_TRAINER, run_zoo
from zoo.anomaly import f1_optimal_threshold, normalize, read_threshold, threshold_at_quantile, threshold_state


def read_rows(path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


# ------------------------------------------------------------------------------ the maths


def test_f1_optimal_threshold_separates_separable_scores():
    scores = torch.tensor([0.1, 0.2, 0.3, 0.35, 0.8, 0.9, 5.0])
    anomalous = torch.tensor([0, 0, 0, 0, 1, 1, 1]).bool()
    threshold, f1 = f1_optimal_threshold(scores, anomalous)
    assert f1 == pytest.approx(1.0) and 0.35 < threshold < 0.8


def test_normal_only_validation_gives_the_quantile_and_labelled_anomalies_the_f1_threshold():
    scores = torch.arange(100, dtype=torch.float64)
    normal_only = threshold_state(scores, torch.full((100,), 3), [3], quantile=0.9)
    assert normal_only["method"] == "quantile" and normal_only["threshold"] == pytest.approx(89.1)
    assert threshold_at_quantile(normal_only, 0.5) == pytest.approx(49.5)
    labels = torch.where(scores >= 80, 7, 3)  # the 20 highest scores are labelled anomalies (class 7)
    with_anomalies = threshold_state(scores, labels, [3], quantile=0.9)
    assert with_anomalies["method"] == "f1" and with_anomalies["f1"] == pytest.approx(1.0)
    assert 79 < with_anomalies["threshold"] < 80
    assert threshold_at_quantile(with_anomalies, 1.0) == pytest.approx(79)  # quantiles of the normal scores only


def test_normalized_scores_put_the_threshold_at_one_half():
    normalized = normalize(torch.tensor([0.0, 2.0, 3.0, 10.0]), threshold=2.0, minimum=0.0, maximum=4.0)
    assert normalized.tolist() == [0.0, 0.5, 0.75, 1.0]


# --------------------------------------------------------------------------- through the CLI


@pytest.fixture(scope="module")
def one_class_checkpoint(tmp_path_factory):
    """An autoencoder fitted on the 3s of the embedded digits only."""
    root = tmp_path_factory.mktemp("one_class")
    run_zoo(["fit", "--model", "autoencoder", "--data", "digits", "--data.normal_classes", "[3]",
             "--model.lr", "0.005", "--data.batch_size", "32", *FAST_TRAINER, "--trainer.limit_train_batches", "12",
             "--anomaly.quantile", "0.95", "--fid.every_n_epochs", "0"], cwd=root, in_process=True)
    return root / "runs" / "autoencoder" / "version_0" / "checkpoints" / "last.ckpt"


def test_fit_stores_the_validation_threshold_in_the_checkpoint(one_class_checkpoint):
    state = read_threshold(one_class_checkpoint)
    assert state["method"] == "quantile" and state["quantile"] == 0.95 and state["normal_classes"] == [3]
    assert state["num_scores"] == 40  # the 40 validation 3s, nothing else
    assert state["min"] <= state["threshold"] <= state["max"]


def test_score_reports_auroc_aupr_f1_writes_decisions_and_maps(one_class_checkpoint, tmp_path):
    result = run_zoo(["score", "--ckpt", str(one_class_checkpoint), "--data", "digits", "--split", "test",
                      "--normal-class", "3", "--out", "scores.csv", "--maps", "maps", "--top", "4"],
                     cwd=tmp_path, in_process=True)
    for line in ("AUROC (class 3 normal", "AUPR (anomalies positive", "F1 at the threshold:", "true positives",
                 "false negatives", "stored in the checkpoint: the 0.95 quantile"):
        assert line in result.stdout, line
    auroc = float(result.stdout.split("AUROC")[1].split(":")[1].split()[0])
    assert auroc > 0.6  # the 3s reconstruct better than the digits the model never saw
    rows = read_rows(tmp_path / "scores.csv")
    assert len(rows) == 500
    assert list(rows[0]) == ["index", "file", "label", "score", "normalized_score", "is_anomaly"]
    threshold = read_threshold(one_class_checkpoint)["threshold"]
    for row in rows:
        if abs(float(row["score"]) - threshold) < 1e-5 * threshold:
            continue  # the CSV keeps 6 significant digits
        assert row["is_anomaly"] == str(int(float(row["score"]) > threshold))
        assert (float(row["normalized_score"]) > 0.5) == (row["is_anomaly"] == "1")
    tp = sum(row["is_anomaly"] == "1" and row["label"] != "3" for row in rows)
    assert f"true positives {tp}," in result.stdout
    for sheet in ("most_anomalous", "most_normal"):
        with Image.open(tmp_path / "maps" / f"{sheet}.png") as image:
            width, height = image.size
            assert width > 400 and height > 4 * 150  # four rows of input | reconstruction | heat map
            assert np.asarray(image.convert("L")).std() > 20  # a drawing, not a blank page
    labels_shown = [row for row in sorted(rows, key=lambda row: -float(row["score"]))[:4]]
    assert sum(row["label"] != "3" for row in labels_shown) >= 3  # the most anomalous are mostly other digits


def test_a_stored_threshold_decides_on_unlabelled_images(one_class_checkpoint, tmp_path):
    from zoo.data.digits import digits_splits
    from zoo.data.image_files import save_image

    folder = tmp_path / "incoming"
    test = digits_splits()["test"]
    threes = [image for image, label in test if label == 3][:5]
    for index, image in enumerate(threes):
        save_image(image, folder / f"three_{index}.png")
    rng = np.random.default_rng(0)
    for index in range(5):
        Image.fromarray((rng.random((28, 28)) * 255).astype(np.uint8)).save(folder / f"static_{index}.png")
    result = run_zoo(["score", "--ckpt", str(one_class_checkpoint), "--data", "folder", "--data.root", str(folder),
                      "--data.channels", "1", "--data.image_size", "28", "--data.num_workers", "0",
                      "--split", "all", "--out", "scores.csv"], cwd=tmp_path, in_process=True)
    assert "stored in the checkpoint" in result.stdout and "AUROC" not in result.stdout
    rows = {row["file"].rsplit("/", 1)[1]: row for row in read_rows(tmp_path / "scores.csv")}
    assert all(rows[f"static_{index}.png"]["is_anomaly"] == "1" for index in range(5))
    assert sum(rows[f"three_{index}.png"]["is_anomaly"] == "1" for index in range(5)) <= 1
    strict = run_zoo(["score", "--ckpt", str(one_class_checkpoint), "--data", "folder", "--data.root", str(folder),
                      "--data.channels", "1", "--data.image_size", "28", "--data.num_workers", "0", "--split", "all",
                      "--threshold", "1e9", "--out", "strict.csv"], cwd=tmp_path, in_process=True)
    assert "0 of 10 flagged" in strict.stdout and "given by --threshold" in strict.stdout


def test_two_processes_store_the_threshold_of_every_validation_score(tmp_path):
    # Validation is sharded across the processes; the callback gathers every score before choosing.
    run_zoo(["fit", "--model", "autoencoder", "--data", "digits", "--data.normal_classes", "[3]",
             "--data.batch_size", "16", "--trainer.strategy", "ddp", "--trainer.devices", "2",
             "--trainer.accelerator", "cpu", *FAST_TRAINER, "--trainer.limit_val_batches", "1.0",
             "--fid.every_n_epochs", "0"], cwd=tmp_path)
    checkpoint = tmp_path / "runs" / "autoencoder" / "version_0" / "checkpoints" / "last.ckpt"
    state = read_threshold(checkpoint)
    from zoo.checkpoints import load_model
    from zoo.data.digits import DigitsDataModule

    data = DigitsDataModule(normal_classes=[3])
    data.setup("fit")
    images = torch.stack([image for image, _ in data.val_set])
    scores = load_model(checkpoint).anomaly_score(images).double()
    assert state["num_scores"] == len(scores) == 40  # every validation 3, none twice
    assert state["threshold"] == pytest.approx(float(torch.quantile(scores, 0.99)), rel=1e-4)
