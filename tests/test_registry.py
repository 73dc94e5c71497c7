"""The registry: what `zoo list` and `zoo info` show, and that the catalogue matches the entry points."""

from __future__ import annotations

import inspect
import subprocess
import sys
import zipfile

import pytest
import tomllib
import yaml

from tests.conftest import REPO, run_zoo
from zoo import registry
from zoo.errors import ZooError

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
CATALOGUE = yaml.safe_load((REPO / "registry.yaml").read_text())
BUILTIN_MODELS = PYPROJECT["project"]["entry-points"]["zoo.models"]
BUILTIN_DATAMODULES = PYPROJECT["project"]["entry-points"]["zoo.datamodules"]


def test_registry_yaml_names_exactly_the_builtin_entry_points():
    assert set(CATALOGUE["models"]) == set(BUILTIN_MODELS)
    assert set(CATALOGUE["datamodules"]) == set(BUILTIN_DATAMODULES)


def test_registry_yaml_never_repeats_a_class_path():
    for section in ("models", "datamodules"):
        for name, metadata in CATALOGUE[section].items():
            assert not any(":" in str(value) and "zoo." in str(value) for value in metadata.values()), name


def test_registry_yaml_never_repeats_what_a_class_declares():
    # task and batch_kind have one home, the class; the catalogue shows them read from its source.
    for section, kind in (("models", "model"), ("datamodules", "datamodule")):
        for name, metadata in CATALOGUE[section].items():
            assert not {"task", "batch_kind", "gives"} & set(metadata), f"{name} repeats a class's fact"


@pytest.mark.parametrize("name", sorted(BUILTIN_MODELS))
def test_every_builtin_model_is_installed_loads_and_agrees_with_the_catalogue(name):
    entry = registry.entries("model")[name]
    assert entry.distribution == "zoo"
    assert entry.target == BUILTIN_MODELS[name]
    cls = entry.load()
    import lightning as L

    assert issubclass(cls, L.LightningModule)
    listed = registry.builtin_metadata("model", name, entry.target)  # read without importing
    assert getattr(cls, "task", None) == listed["task"], (
        f"{name}: class says task={getattr(cls, 'task', None)!r}, the listing reads {listed['task']!r}")
    assert (REPO / CATALOGUE["models"][name]["config"]).exists(), f"{name}: its default config is missing"


@pytest.mark.parametrize("name", sorted(BUILTIN_MODELS))
def test_optimizer_arguments_default_to_none_meaning_the_papers(name):
    # One convention for every family: a callable default can reach __init__ from a config as its import path.
    parameters = inspect.signature(registry.entries("model")[name].load().__init__).parameters
    for argument in ("optimizer_g", "optimizer_d"):
        if argument in parameters:
            assert parameters[argument].default is None, f"{name}.{argument}"


@pytest.mark.parametrize("name", sorted(BUILTIN_DATAMODULES))
def test_every_builtin_datamodule_loads(name):
    import lightning as L

    cls = registry.entries("datamodule")[name].load()
    assert issubclass(cls, L.LightningDataModule)
    listed = registry.builtin_metadata("datamodule", name, registry.entries("datamodule")[name].target)
    assert getattr(cls, "batch_kind", "images") == listed.get("batch_kind", "images")


def test_unknown_name_lists_close_matches():
    with pytest.raises(ZooError, match=r"unknown model 'vea'.*did you mean vae"):
        registry.get("model", "vea")


def test_names_class_names_and_class_paths_all_resolve():
    assert registry.resolve_class_path("model", "vae") == "zoo.models.vae.VAE"
    assert registry.resolve_class_path("model", "VAE") == "zoo.models.vae.VAE"
    assert registry.resolve_class_path("model", "zoo.models.vae.VAE") == "zoo.models.vae.VAE"
    assert registry.resolve_class_path("datamodule", "digits") == "zoo.data.digits.DigitsDataModule"
    with pytest.raises(ZooError, match="does not import"):
        registry.resolve_class_path("model", "zoo.models.nothing.Here")


def test_zoo_list_prints_every_model_and_datamodule_with_task_and_source(tmp_path):
    result = run_zoo(["list"], cwd=tmp_path)
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if line.count("│") >= 4}
    for name in BUILTIN_MODELS:
        assert name in rows, result.stdout
        assert registry.entries("model")[name].load().task in rows[name]
        assert "zoo" in rows[name] and CATALOGUE["models"][name]["default_data"] in rows[name]
    for name in BUILTIN_DATAMODULES:
        assert name in rows, result.stdout


def test_zoo_info_shows_the_card_and_hyperparameters_with_defaults(tmp_path):
    out = run_zoo(["info", "vae"], cwd=tmp_path).stdout
    assert "reconstruction" in out and "Kingma" in out
    assert "beta" in out and "latent_dim" in out and "16" in out
    assert "tuple[int, int, int]" in out  # types print as written, not eaten as markup


def test_wheel_ships_registry_yaml(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path),
         str(REPO)], check=True, capture_output=True,
    )
    (wheel,) = tmp_path.glob("zoo-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        assert "zoo/registry.yaml" in names
        assert yaml.safe_load(archive.read("zoo/registry.yaml")) == CATALOGUE
        entry_points = next(name for name in names if name.endswith("entry_points.txt"))
        assert "[zoo.models]" in archive.read(entry_points).decode()


def test_model_pages_match_the_code():
    from zoo.commands import docgen

    assert docgen.main(["--check"]) == 0, "docs/models is out of date: run `python -m zoo.commands.docgen`"
