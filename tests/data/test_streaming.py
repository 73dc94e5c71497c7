"""Streaming data: `zoo prepare` writes litdata chunks, `--data streaming` trains from them and resumes mid-epoch."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from pathlib import Path

import pytest
import torch
from lightning.pytorch.callbacks import Callback

from tests.conftest import FAST_TRAINER, REPO, run_zoo, zoo_in_process
from tests.launching import assert_all_exit_0, free_port, launch, torchrun
from zoo.data.digits import DigitsDataModule, digits_splits
from zoo.data.streaming import StreamingDataModule
from zoo.errors import ZooError
from zoo.commands.prepare import command_prepare

SPLITS = ("train", "val", "test")


class RecordTrainingImages(Callback):
    """Writes a fingerprint of every training image each process sees to ``out_dir/rank<N>.json``.

    Passed to `zoo fit` with --trainer.callbacks, so the tests observe what a real CLI run read.
    """

    def __init__(self, out_dir: str) -> None:
        self.out_dir = Path(out_dir)
        self.fingerprints: list[str] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.fingerprints.extend(fingerprints(batch[0]))

    def on_train_end(self, trainer, pl_module) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / f"rank{trainer.global_rank}.json").write_text(json.dumps(self.fingerprints))


def fingerprints(images: torch.Tensor) -> list[str]:
    """One short hash per image of its uint8 pixels: identity of an image across processes and runs."""
    pixels = images.mul(255).round().to(torch.uint8).cpu()
    return [hashlib.sha1(image.numpy().tobytes()).hexdigest()[:16] for image in pixels]


def recorded(out_dir: Path) -> dict[str, list[str]]:
    return {path.stem: json.loads(path.read_text()) for path in sorted(out_dir.glob("rank*.json"))}


@pytest.fixture(scope="module")
def prepared_digits(tmp_path_factory) -> Path:
    """The embedded digits written once by the real CLI, shared by the tests that only read them."""
    out = tmp_path_factory.mktemp("digits_stream") / "digits"
    result = run_zoo(["prepare", "--data", "digits", "--out", str(out), "--num-workers", "2"], cwd=out.parent)
    assert "4000 train, 500 val, 500 test" in result.stdout
    return out


def all_batches(loader) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = zip(*((batch[0], batch[1]) for batch in loader))
    return torch.cat(images), torch.cat(labels)


def test_prepare_writes_chunks_and_metadata_for_every_split(prepared_digits):
    for split in SPLITS:
        assert (prepared_digits / split / "index.json").is_file()
        assert list((prepared_digits / split).glob("*.bin")), f"no chunks in {split}/"
    metadata = json.loads((prepared_digits / "zoo.json").read_text())
    assert metadata["image_shape"] == [1, 28, 28] and metadata["num_classes"] == 10
    assert metadata["splits"] == {"train": 4000, "val": 500, "test": 500}


def test_streaming_gives_the_digits_pixels_and_labels_in_order(prepared_digits):
    streaming = StreamingDataModule(str(prepared_digits), batch_size=256, num_workers=0, shuffle=False)
    assert streaming.image_shape == (1, 28, 28) and streaming.num_classes == 10  # known before setup
    digits = DigitsDataModule(batch_size=256)
    streaming.setup("fit"), streaming.setup("test"), digits.setup()
    for split in SPLITS:
        streamed_images, streamed_labels = all_batches(streaming._loader(getattr(streaming, f"{split}_set"), False))
        expected_images, expected_labels = getattr(digits, f"{split}_set").tensors
        assert streamed_images.dtype == torch.float32 and streamed_images.shape == expected_images.shape
        assert torch.equal(streamed_images, expected_images), split  # uint8 storage is exact for 8-bit digits
        assert torch.equal(streamed_labels, expected_labels), split


def test_shuffled_training_split_is_a_seeded_permutation_of_every_image(prepared_digits):
    def epoch(seed):
        data = StreamingDataModule(str(prepared_digits), batch_size=500, num_workers=0, seed=seed)
        data.setup("fit")
        return fingerprints(all_batches(data.train_dataloader())[0])

    first, again, other_seed = epoch(0), epoch(0), epoch(1)
    in_file_order = fingerprints(digits_splits()["train"].tensors[0])
    assert first == again and first != other_seed
    assert sorted(first) == sorted(in_file_order) and first != in_file_order


def test_png_images_are_smaller_and_decode_to_the_same_pixels(tmp_path, prepared_digits):
    command_prepare(["--data", "digits", "--out", str(tmp_path / "png"), "--image-format", "png",
                     "--num-workers", "1"])
    png = StreamingDataModule(str(tmp_path / "png"), batch_size=500, num_workers=0, shuffle=False)
    raw = StreamingDataModule(str(prepared_digits), batch_size=500, num_workers=0, shuffle=False)
    png.setup("validate"), raw.setup("validate")
    png_images, png_labels = all_batches(png.val_dataloader())
    raw_images, raw_labels = all_batches(raw.val_dataloader())
    assert png_images.shape == (500, 1, 28, 28)  # litdata decodes RGB; greyscale keeps one channel
    assert torch.equal(png_images, raw_images) and torch.equal(png_labels, raw_labels)

    def size(folder):
        return sum(path.stat().st_size for path in folder.glob("*.bin"))

    assert size(tmp_path / "png" / "train") < size(prepared_digits / "train") / 2


def test_fit_resumes_mid_epoch_with_the_images_not_yet_seen(tmp_path, prepared_digits, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the subprocess imports RecordTrainingImages from this file
    common = ["fit", "--model", "autoencoder", "--data", "streaming", "--data.root", str(prepared_digits),
              "--data.batch_size", "500", "--data.num_workers", "0", *FAST_TRAINER,
              "--trainer.limit_train_batches", "1.0", "--trainer.callbacks+=tests.data.test_streaming.RecordTrainingImages"]
    run_zoo([*common, "--trainer.callbacks.out_dir", str(tmp_path / "first"), "--trainer.max_steps", "3"],
            cwd=tmp_path)
    last = tmp_path / "runs" / "autoencoder" / "version_0" / "checkpoints" / "last.ckpt"
    assert last.is_file()
    loader_state = torch.load(last, weights_only=False)["loops"]["fit_loop"]["state_dict"]["combined_loader"][0]
    assert loader_state["num_samples_yielded"] == 3 * 500

    # max_steps 8 ends the run with the epoch; max_epochs is raised because Lightning counts the epoch a
    # max_steps stop interrupted as finished, so with max_epochs 1 the resumed run would not train at all.
    run_zoo([*common, "--trainer.callbacks.out_dir", str(tmp_path / "resumed"), "--ckpt_path", str(last),
             "--trainer.max_steps", "8", "--trainer.max_epochs", "5"], cwd=tmp_path)
    seen_first = recorded(tmp_path / "first")["rank0"]
    seen_after_resume = recorded(tmp_path / "resumed")["rank0"]
    # The 4,000 training images are 8 batches: 3 before the stop, the other 5 after it, none twice.
    assert len(seen_first) == 1500 and len(seen_after_resume) == 2500
    assert not set(seen_first) & set(seen_after_resume)
    assert len(set(seen_first) | set(seen_after_resume)) == 4000


def test_two_ddp_processes_read_disjoint_halves_of_the_training_split(tmp_path, prepared_digits, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    run_zoo(["fit", "--model", "autoencoder", "--data", "streaming", "--data.root", str(prepared_digits),
             "--data.batch_size", "250", "--data.num_workers", "0", *FAST_TRAINER,
             "--trainer.limit_train_batches", "1.0",
             "--trainer.callbacks+=tests.data.test_streaming.RecordTrainingImages",
             "--trainer.callbacks.out_dir", str(tmp_path / "seen"),
             "--trainer.devices", "2", "--trainer.accelerator", "cpu"], cwd=tmp_path)
    seen = recorded(tmp_path / "seen")
    assert sorted(seen) == ["rank0", "rank1"]
    assert len(seen["rank0"]) == len(seen["rank1"]) == 2000
    assert not set(seen["rank0"]) & set(seen["rank1"])
    assert len(set(seen["rank0"]) | set(seen["rank1"])) == 4000


def test_two_torchrun_nodes_read_disjoint_halves_of_the_training_split(tmp_path, prepared_digits, monkeypatch):
    """`torchrun --nnodes 2` on localhost, one process per node, each node in its own folder: as docs/scaling.md."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    port = free_port()
    fit = ["fit", "--model", "autoencoder", "--data", "streaming", "--data.root", str(prepared_digits),
           "--data.batch_size", "250", "--data.num_workers", "0", *FAST_TRAINER, "--trainer.limit_train_batches", "1.0",
           "--trainer.callbacks+=tests.data.test_streaming.RecordTrainingImages",
           "--trainer.callbacks.out_dir", str(tmp_path / "seen"),
           "--trainer.num_nodes", "2", "--trainer.devices", "1", "--trainer.accelerator", "cpu"]
    assert_all_exit_0(launch([([*torchrun(2, rank, 1, port), *fit], {}, tmp_path / f"node{rank}") for rank in (0, 1)]))
    seen = recorded(tmp_path / "seen")
    assert sorted(seen) == ["rank0", "rank1"]
    assert len(seen["rank0"]) == len(seen["rank1"]) == 2000
    assert not set(seen["rank0"]) & set(seen["rank1"])
    assert list((tmp_path / "node0" / "runs" / "autoencoder").glob("version_*/checkpoints/last.ckpt"))
    assert not (tmp_path / "node1" / "runs").exists()  # only rank 0 writes


def test_a_missing_root_or_a_folder_not_written_by_prepare_is_named(tmp_path, prepared_digits, capsys):
    result = zoo_in_process(["fit", "--model", "autoencoder", "--data", "streaming", "--data.root",
                             str(tmp_path / "nowhere")], cwd=tmp_path, capsys=capsys)
    assert result.returncode == 2
    assert f"zoo: error: streaming root {tmp_path / 'nowhere'} does not exist" in result.stderr
    assert "Traceback" not in result.stderr

    (tmp_path / "photos").mkdir()
    with pytest.raises(ZooError, match="photos was not written by `zoo prepare`.*holds no prepared dataset"):
        StreamingDataModule(str(tmp_path / "photos")).setup("fit")
    foreign = tmp_path / "foreign"
    shutil.copytree(prepared_digits, foreign)
    (foreign / "zoo.json").unlink()
    with pytest.raises(ZooError, match="foreign was not written by `zoo prepare` .*holds litdata chunks"):
        StreamingDataModule(str(foreign)).setup("fit")

    no_test = tmp_path / "no_test"
    shutil.copytree(prepared_digits, no_test)
    shutil.rmtree(no_test / "test")
    data = StreamingDataModule(str(no_test), num_workers=0)
    data.setup("fit")  # training needs only train and val
    with pytest.raises(ZooError, match="no_test has no test split"):
        data.setup("test")


def test_prepare_refuses_a_used_folder_and_paired_data(tmp_path):
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "notes.txt").write_text("mine")
    with pytest.raises(ZooError, match="--out .*used is not empty; .*--overwrite"):
        command_prepare(["--data", "digits", "--out", str(tmp_path / "used")])
    assert (tmp_path / "used" / "notes.txt").read_text() == "mine"
    with pytest.raises(ZooError, match="writes image data only; paired gives paired batches"):
        command_prepare(["--data", "paired", "--data.root", str(tmp_path), "--out", str(tmp_path / "pairs")])


def test_score_of_the_streamed_training_split_covers_every_image(tmp_path, prepared_digits):
    # The training loader drops its last partial batch; scoring must not: one row per image.
    data = ["--data", "streaming", "--data.root", str(prepared_digits), "--data.num_workers", "0"]
    run_zoo(["fit", "--model", "autoencoder", *data, *FAST_TRAINER], cwd=tmp_path, in_process=True)
    last = tmp_path / "runs" / "autoencoder" / "version_0" / "checkpoints" / "last.ckpt"
    run_zoo(["score", "--ckpt", str(last), *data, "--data.batch_size", "300", "--split", "train",
             "--out", "scores.csv"], cwd=tmp_path, in_process=True)
    rows = (tmp_path / "scores.csv").read_text().splitlines()
    assert len(rows) == 1 + 4000


def test_a_one_process_run_resumes_mid_epoch_on_two_processes_without_repeating_images(tmp_path, prepared_digits,
                                                                                       monkeypatch):
    """litdata restripes the epoch's unseen images over the new process count, when the global batch is kept."""
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    common = ["fit", "--model", "autoencoder", "--data", "streaming", "--data.root", str(prepared_digits),
              "--data.num_workers", "0", *FAST_TRAINER, "--trainer.limit_train_batches", "1.0",
              "--trainer.accelerator", "cpu", "--trainer.callbacks+=tests.data.test_streaming.RecordTrainingImages"]
    run_zoo([*common, "--data.batch_size", "500", "--trainer.callbacks.out_dir", str(tmp_path / "first"),
             "--trainer.max_steps", "3"], cwd=tmp_path)
    last = tmp_path / "runs" / "autoencoder" / "version_0" / "checkpoints" / "last.ckpt"
    # Two processes of 250 images a step: the same 500 images per global step, so the epoch ends at step 8.
    run_zoo([*common, "--data.batch_size", "250", "--trainer.devices", "2", "--trainer.callbacks.out_dir",
             str(tmp_path / "resumed"), "--ckpt_path", str(last), "--trainer.max_steps", "8",
             "--trainer.max_epochs", "5"], cwd=tmp_path)
    resumed = tmp_path / "runs" / "autoencoder" / "version_1" / "checkpoints" / "last.ckpt"
    assert torch.load(resumed, weights_only=True)["global_step"] == 8
    seen_first, seen_after = recorded(tmp_path / "first")["rank0"], recorded(tmp_path / "resumed")
    assert len(seen_first) == 1500 and len(seen_after["rank0"]) == len(seen_after["rank1"]) == 1250
    after = seen_after["rank0"] + seen_after["rank1"]
    assert len(set(after)) == 2500 and not set(seen_first) & set(after)


def test_a_resume_that_changes_the_global_batch_warns_with_the_batch_size_that_would_be_exact(tmp_path,
                                                                                            prepared_digits):
    """A checkpoint of 2 processes x 250 images resumed on 1 process: 250 repeats images, 500 is exact."""
    def training_loader(batch_size: int):
        data = StreamingDataModule(str(prepared_digits), batch_size=batch_size, num_workers=0)
        data.setup("fit")
        return data.train_dataloader()

    saved = training_loader(250)
    next(iter(saved))
    state = saved.state_dict()
    state["dataset"]["world_size"] = 2  # as written by each of two DDP processes of 250 images
    with pytest.warns(UserWarning, match=r"global batch of 250 images \(250 x 1 processes\) where the checkpoint had "
                                         r"500: images of this epoch will repeat; .*use --data.batch_size 500"):
        training_loader(250).load_state_dict(state)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*global batch")
        training_loader(500).load_state_dict(state)
