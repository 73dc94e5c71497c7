"""Weights & Biases offline: a complete run directory, readable afterwards, with no network."""

from __future__ import annotations

import struct
from pathlib import Path

import yaml

from tests.conftest import FAST_TRAINER, run_zoo

LOG_BLOCK, RECORD_HEADER = 32768, 7  # the .wandb file is a LevelDB-style log of protobuf records


def read_wandb_records(path: Path) -> list:
    """Every record of an offline ``run-*.wandb`` file, decoded with wandb's own protobuf schema."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B", "not a W&B run file"
    position, chunks, records = RECORD_HEADER, [], []
    while position + RECORD_HEADER <= len(data):
        left_in_block = LOG_BLOCK - position % LOG_BLOCK
        if left_in_block < RECORD_HEADER:
            position += left_in_block
            continue
        _, length, kind = struct.unpack("<IHB", data[position : position + RECORD_HEADER])
        if length == 0 and kind == 0:  # zero padding to the end of a block
            position += left_in_block
            continue
        chunks.append(data[position + RECORD_HEADER : position + RECORD_HEADER + length])
        position += RECORD_HEADER + length
        if kind in (1, 4):  # a full record, or the last piece of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(b"".join(chunks))
            records.append(record)
            chunks = []
    return records


def test_offline_wandb_run_holds_scalars_fid_config_images_and_checkpoints(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_PROJECT", raising=False)
    monkeypatch.delenv("WANDB_NAME", raising=False)
    # No project or name given: the run goes to the project `zoo`, in runs/zoo/<run id>/, named `vae`.
    run_zoo(["fit", "--model", "vae", "--data", "digits", *FAST_TRAINER, "--fid.num_samples", "100",
             "--trainer.logger", "WandbLogger", "--trainer.logger.log_model", "true"], cwd=tmp_path, timeout=300)
    (run_dir,) = (tmp_path / "runs" / "wandb").glob("offline-run-*")
    (run_file,) = run_dir.glob("run-*.wandb")
    records = read_wandb_records(run_file)
    kinds = [record.WhichOneof("record_type") for record in records]
    runs = [record.run for record in records if record.HasField("run")]
    assert {(run.project, run.display_name) for run in runs} == {("zoo", "vae")}  # named after the model
    assert "exit" in kinds, "the run was not finished cleanly"
    history_keys = {item.key or "/".join(item.nested_key) for record in records if record.HasField("history")
                    for item in record.history.item}
    assert {"val/fid", "val/kid", "val/loss", "val/psnr", "val/elbo"} <= history_keys
    assert any(key.startswith("samples/") for key in history_keys)
    assert list(run_dir.glob("files/media/images/samples_*.png")), "the sample grid image was not logged"
    config_keys = {update.key for record in records if record.HasField("config") for update in record.config.update}
    assert {"zoo", "latent_dim", "beta"} <= config_keys  # the full resolved config and the hyper-parameters
    assert kinds.count("artifact") >= 1  # log_model: the checkpoint as an artifact
    (run_id,) = [path.name for path in (tmp_path / "runs" / "zoo").iterdir()]
    assert run_id in run_file.name
    config = yaml.safe_load((tmp_path / "runs" / "zoo" / run_id / "config.yaml").read_text())
    assert config["model"]["class_path"] == "zoo.models.vae.VAE"
    assert (tmp_path / "runs" / "zoo" / run_id / "checkpoints" / "last.ckpt").exists()
