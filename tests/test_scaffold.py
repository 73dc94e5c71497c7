"""`zoo new-plugin`: the package it writes installs, is found by name, and passes the tests it ships with."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import tomllib
import yaml

from tests.conftest import REPO
from zoo import interfaces, registry
from zoo.cli import main
from zoo.plugins import TASKS, PluginSpec, write_plugin

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


def five_steps() -> list[str]:
    """The numbered steps of docs/architecture.md's "Add a family in five steps", as written."""
    text = (REPO / "docs" / "architecture.md").read_text().split("## Add a family in five steps", 1)[1]
    return [step.strip() for step in re.split(r"\n\d\. ", text.split("\n## ", 1)[0])[1:]]


def test_the_five_steps_hold_for_every_builtin_family_and_the_scaffold(tmp_path, monkeypatch):
    steps = five_steps()
    assert len(steps) == 5, steps
    # Each step names the files this test checks, for a built-in family and for a plugin.
    for step, paths in zip(steps, [("zoo/models/NAME.py", "zoo_NAME/model.py"),
                                   ("pyproject.toml", '[project.entry-points."zoo.models"]'),
                                   ("registry.yaml", "`task`", "`batch_kind`"),
                                   ("configs/NAME.yaml",),
                                   ("tests/models/test_NAME.py", "tests/test_NAME.py", "docs/models/NAME.md")]):
        assert all(path in step for path in paths), (paths, step)
    card_keys = {"summary", "default_data", "config", "paper", "budget"}
    entry_points = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"]["zoo.models"]
    catalogue = yaml.safe_load((REPO / "registry.yaml").read_text())["models"]
    for name, entry in registry.entries("model").items():
        if not entry.builtin:
            continue
        cls = entry.load()
        # 1. the model: its file, typed arguments with image_shape first, task and batch_kind, its interface
        assert (REPO / "zoo" / "models" / f"{name}.py").exists() and cls.__module__ == f"zoo.models.{name}"
        assert registry.init_parameters(cls)[0].name == "image_shape"
        assert isinstance(cls.task, str) and isinstance(cls.batch_kind, str), name
        assert all(issubclass(cls, protocol) for protocol in interfaces.TASK_INTERFACES[cls.task]), name
        # 2. the entry point; 3. the card, without what the class declares; 4. the config; 5. tests and page
        assert entry_points[name] == f"zoo.models.{name}:{cls.__name__}"
        assert card_keys <= set(catalogue[name]) and not {"task", "batch_kind"} & set(catalogue[name]), name
        assert (REPO / catalogue[name]["config"]).exists(), name
        assert (REPO / "tests" / "models" / f"test_{name}.py").exists(), name
        assert (REPO / "docs" / "models" / f"{name}.md").exists(), name
    # A plugin: the same five steps, each written by `zoo new-plugin`.
    for task, name in SCAFFOLDS.items():
        folder = tmp_path / name
        write_plugin(folder, name, task)
        spec = PluginSpec(name, task)
        assert (folder / spec.package / "model.py").exists()
        pyproject = tomllib.loads((folder / "pyproject.toml").read_text())
        assert pyproject["project"]["entry-points"]["zoo.models"] == {name: f"{spec.package}.model:{spec.class_name}"}
        monkeypatch.syspath_prepend(str(folder))
        declared = registry.declared_attributes(f"{spec.package}.model:{spec.class_name}",
                                                ("task", "batch_kind", "summary", "default_data", "config"))
        assert declared["task"] == task and {"batch_kind", "summary", "default_data", "config"} <= set(declared)
        assert (folder / declared["config"]).exists()
        assert (folder / "tests" / f"test_{name}.py").exists()
