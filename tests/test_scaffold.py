"""`zoo new-plugin`: the package it writes installs, is found by name, and passes the tests it ships with."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import tomllib

from zoo.cli import main
from zoo.plugins import TASKS, PluginSpec

SCAFFOLDS = {"generation": "my_gan", "reconstruction": "my_autoencoder", "translation": "my_translator"}


def test_each_task_scaffold_installs_and_passes_its_own_tests(tmp_path):
    """All three packages in one pip call and one pytest run: the generated tests train through `zoo fit`."""
    for task, name in SCAFFOLDS.items():
        main(["new-plugin", str(tmp_path / name), "--name", name, "--task", task])
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--quiet", "--target",
         str(target), *(str(tmp_path / name) for name in SCAFFOLDS.values())],
        check=True, capture_output=True, timeout=300,
    )
    for name in SCAFFOLDS.values():
        entry_points = next(target.glob(f"zoo_{name}-0.1.0.dist-info")) / "entry_points.txt"
        assert f"{name} = zoo_{name}.model:" in entry_points.read_text()
    test_folders = [str(tmp_path / name / "tests") for name in SCAFFOLDS.values()]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--import-mode=importlib", *test_folders],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(target), os.environ.get("PYTHONPATH")]))},
    )
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert "16 passed" in summary, summary  # 5 generation + 5 reconstruction + 6 translation tests


def test_the_package_declares_its_model_in_the_zoo_models_group(tmp_path, capsys):
    main(["new-plugin", str(tmp_path / "pkg"), "--name", "my_vae", "--task", "reconstruction"])
    assert "pip install -e" in capsys.readouterr().out
    pyproject = tomllib.loads((tmp_path / "pkg" / "pyproject.toml").read_text())
    spec = PluginSpec("my_vae", "reconstruction")
    assert pyproject["project"]["name"] == "zoo-my-vae"
    assert pyproject["project"]["entry-points"]["zoo.models"] == {"my_vae": "zoo_my_vae.model:MyVae"}
    assert spec.class_name == "MyVae" and spec.package == "zoo_my_vae"
    config = (tmp_path / "pkg" / "configs" / "my_vae.yaml").read_text()
    assert "class_path: zoo_my_vae.model.MyVae" in config
    assert "class_path: zoo.data.digits.DigitsDataModule" in config


def test_translation_scaffolds_default_to_the_super_resolution_data():
    assert TASKS["translation"][2] == "super_resolution"
    assert PluginSpec("t", "translation").substitutions()["data_class_path"] == (
        "zoo.data.super_resolution.SuperResolutionDataModule")


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--name", "vae", "--task", "generation"],
         "zoo: error: model name 'vae' is already registered by zoo; two distributions with one name"),
        (["--name", "My-GAN", "--task", "generation"], "zoo: error: plugin name 'My-GAN' must be a lower-case"),
        (["--name", "class", "--task", "generation"], "zoo: error: plugin name 'class' must be a lower-case"),
        (["--name", "ok_name", "--task", "diffusion"], "zoo: error: argument --task: invalid choice: 'diffusion'"),
        (["--task", "generation"], "zoo: error: the following arguments are required: --name"),
    ],
)
def test_bad_requests_fail_in_one_line_and_write_nothing(args, expected, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["new-plugin", str(tmp_path / "pkg"), *args])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().startswith(expected)
    assert not (tmp_path / "pkg").exists()


def test_an_existing_folder_with_files_is_never_overwritten(tmp_path, capsys):
    folder = tmp_path / "pkg"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(SystemExit):
        main(["new-plugin", str(folder), "--name", "fresh", "--task", "generation"])
    assert "already exists and is not an empty folder" in capsys.readouterr().err
    assert [path.name for path in folder.iterdir()] == ["notes.txt"]
