"""sample / encode / score: a user's trained checkpoint put to work, each command loading the class by itself."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import run_zoo, zoo_in_process


def read_rows(path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def checkpoints(trained_vae, trained_autoencoder):
    """A VAE (sample, encode, score) and an autoencoder (no sample), trained a few steps through the CLI."""
    return {"vae": trained_vae, "autoencoder": trained_autoencoder}


def test_sample_writes_a_seeded_grid_and_one_png_per_image(checkpoints, tmp_path):
    run_zoo(["sample", "--ckpt", str(checkpoints["vae"]), "-n", "16", "--out", "grid.png", "--seed", "1"],
            cwd=tmp_path, in_process=True)
    run_zoo(["sample", "--ckpt", str(checkpoints["vae"]), "-n", "16", "--out", "again.png", "--seed", "1"],
            cwd=tmp_path, in_process=True)
    with Image.open(tmp_path / "grid.png") as grid, Image.open(tmp_path / "again.png") as again:
        assert grid.size == (4 * 30 + 2, 4 * 30 + 2)  # 4x4 digits of 28 px with 2 px padding
        assert np.array_equal(np.asarray(grid), np.asarray(again))  # same seed, same images
    run_zoo(["sample", "--ckpt", str(checkpoints["vae"]), "-n", "5", "--out", "augmented/"],
            cwd=tmp_path, in_process=True)
    files = sorted((tmp_path / "augmented").glob("*.png"))
    assert len(files) == 5
    with Image.open(files[0]) as image:
        assert image.size == (28, 28)


def test_encode_writes_latents_with_labels_and_a_projection(checkpoints, tmp_path):
    run_zoo(["encode", "--ckpt", str(checkpoints["vae"]), "--data", "digits", "--data.batch_size", "100",
             "--out", "latents.npy"], cwd=tmp_path, in_process=True)
    latents, labels = np.load(tmp_path / "latents.npy"), np.load(tmp_path / "latents.labels.npy")
    assert latents.shape == (500, 16) and labels.shape == (500,)  # the 500 test digits, latent_dim 16
    assert set(labels.tolist()) == set(range(10))
    run_zoo(["encode", "--ckpt", str(checkpoints["vae"]), "--data", "digits", "--split", "val",
             "--out", "latents.png"], cwd=tmp_path, in_process=True)
    with Image.open(tmp_path / "latents.png") as plot:
        assert plot.size == (600, 600)


def test_score_writes_one_row_per_input_and_reports_auroc(checkpoints, tmp_path):
    result = run_zoo(["score", "--ckpt", str(checkpoints["autoencoder"]), "--data", "digits", "--normal-class", "1",
                      "--out", "scores.csv"], cwd=tmp_path, in_process=True)
    rows = read_rows(tmp_path / "scores.csv")
    assert len(rows) == 500 and set(rows[0]) == {"index", "file", "label", "score", "normalized_score", "is_anomaly"}
    assert all(float(row["score"]) >= 0 for row in rows)
    auroc = float(result.stdout.split("AUROC")[1].split(":")[1].split()[0])
    # The printed AUROC is that of the CSV's scores with the other digits as the anomalies (an AUROC with the
    # classes or the scores flipped would print 1 - auroc), and the scores tell the digits apart. Which way they
    # lean depends on training: this autoencoder saw every digit, so "1" is not its normal class (measured: the
    # thin 1s score highest).
    scores = torch.tensor([float(row["score"]) for row in rows], dtype=torch.float64)
    anomalous = torch.tensor([int(row["label"]) != 1 for row in rows])
    pairs = scores[anomalous][:, None] - scores[~anomalous][None, :]  # every (anomalous, normal) pair
    by_hand = float((pairs > 0).double().mean() + 0.5 * (pairs == 0).double().mean())
    assert auroc == pytest.approx(by_hand, abs=1e-3)
    assert abs(auroc - 0.5) > 0.2


def test_score_names_each_file_of_a_folder(checkpoints, tmp_path):
    folder = tmp_path / "suspects"
    folder.mkdir()
    for index in range(6):
        Image.fromarray((np.random.default_rng(index).random((28, 28)) * 255).astype(np.uint8)).save(
            folder / f"suspect_{index}.png")
    run_zoo(["score", "--ckpt", str(checkpoints["autoencoder"]), "--data", "folder", "--data.root", str(folder),
             "--data.channels", "1", "--data.image_size", "28", "--data.num_workers", "0", "--split", "all",
             "--out", "scores.csv"], cwd=tmp_path, in_process=True)
    rows = read_rows(tmp_path / "scores.csv")
    assert sorted(row["file"].rsplit("/", 1)[1] for row in rows) == [f"suspect_{i}.png" for i in range(6)]


def test_a_checkpoint_of_the_wrong_task_gets_one_clear_line(checkpoints, tmp_path, capsys):
    result = zoo_in_process(["sample", "--ckpt", str(checkpoints["autoencoder"]), "-n", "4", "--out", "x.png"],
                            cwd=tmp_path, capsys=capsys)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "zoo: error: `zoo sample` needs a model with sample(); " in result.stderr
    assert "autoencoder, a reconstruction model" in result.stderr
    missing = zoo_in_process(["encode", "--ckpt", "nowhere.ckpt", "--data", "digits", "--out", "z.npy"], cwd=tmp_path,
                             capsys=capsys)
    assert missing.returncode == 2 and "zoo: error: checkpoint nowhere.ckpt does not exist" in missing.stderr


def test_sample_into_a_folder_numbers_files_so_that_they_sort_in_order(tmp_path):
    """A million augmentation images are written batch by batch, named so that `ls` lists them in order."""
    from zoo.commands.sample import write_to_folder

    batches = (torch.rand(2, 1, 8, 8) for _ in range(2))
    written = write_to_folder(batches, 1_000_000, tmp_path / "augment")
    assert [path.name for path in written] == [f"sample_{index:06d}.png" for index in range(4)]
    assert sorted(path.name for path in (tmp_path / "augment").iterdir()) == [path.name for path in written]


def test_sample_interpolate_writes_rows_that_walk_between_latent_points(checkpoints, tmp_path, capsys):
    run_zoo(["sample", "--ckpt", str(checkpoints["vae"]), "--interpolate", "--steps", "8", "-n", "4",
             "--out", "walk.png"], cwd=tmp_path, in_process=True)
    with Image.open(tmp_path / "walk.png") as grid:
        assert grid.size == (8 * 30 + 2, 4 * 30 + 2)  # 8 steps across, 4 rows, 28 px digits, 2 px padding
        pixels = np.asarray(grid.convert("L"), dtype=float)
    tiles = [[pixels[2 + 30 * row:30 * (row + 1), 2 + 30 * step:30 * (step + 1)] for step in range(8)]
             for row in range(4)]
    for row in tiles:
        neighbours = np.mean([np.abs(row[step] - row[step + 1]).mean() for step in range(7)])
        assert np.abs(row[0] - row[-1]).mean() > neighbours  # a gradual walk, not 8 unrelated samples
    refused = zoo_in_process(["sample", "--ckpt", str(checkpoints["autoencoder"]), "--interpolate", "--out", "x.png"],
                             cwd=tmp_path, capsys=capsys)
    assert refused.returncode == 2 and "needs a model with sample()" in refused.stderr


def test_slerp_keeps_the_ends_and_the_norm_of_orthogonal_latents():
    import torch

    from zoo.commands.sample import slerp

    start, end = torch.tensor([[3.0, 0.0]]), torch.tensor([[0.0, 3.0]])
    path = slerp(start, end, torch.linspace(0, 1, 5))[0]
    assert torch.allclose(path[0], start[0]) and torch.allclose(path[-1], end[0], atol=1e-6)
    assert torch.allclose(path.norm(dim=1), torch.full((5,), 3.0))  # a straight line would dip to 2.12
