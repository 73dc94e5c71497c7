"""`--ckpt` takes a checkpoint file, a run folder or a folder of runs (the newest `last.ckpt` under it)."""

from __future__ import annotations

import os

import pytest

from zoo.checkpoints import newest_checkpoint
from zoo.errors import ZooError


def test_a_folder_of_runs_stands_for_its_newest_last_ckpt(tmp_path):
    for version, mtime in (("version_0", 100), ("version_2", 300), ("version_1", 200)):
        checkpoint = tmp_path / "dcgan" / version / "checkpoints" / "last.ckpt"
        checkpoint.parent.mkdir(parents=True)
        checkpoint.write_bytes(b"")
        os.utime(checkpoint, (mtime, mtime))
    newest = tmp_path / "dcgan" / "version_2" / "checkpoints" / "last.ckpt"
    assert newest_checkpoint(tmp_path / "dcgan") == newest
    assert newest_checkpoint(tmp_path / "dcgan" / "version_0") == tmp_path / "dcgan/version_0/checkpoints/last.ckpt"
    assert newest_checkpoint(newest) == newest


def test_a_folder_without_a_checkpoint_is_one_line_that_says_so(tmp_path):
    with pytest.raises(ZooError, match="no last.ckpt under it"):
        newest_checkpoint(tmp_path)
