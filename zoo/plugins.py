"""A plugin package that installs and trains before its author changes a line (``zoo new-plugin`` writes it).

The package is what docs/plugins.md describes, made concrete: a pyproject.toml whose one
``zoo.models`` entry point registers the model, a ``LightningModule`` with typed ``__init__``
arguments (``image_shape`` first) and the task's interface (``sample``; ``encode`` /
``decode`` / ``anomaly_score``; ``translate``), a LightningCLI config, and tests that train
it through the zoo's own CLI. The templates are files under ``zoo/templates/plugin/``
(``string.Template`` placeholders such as ``${name}``), shipped inside the wheel.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

from zoo import registry
from zoo.errors import ZooError

TEMPLATES = Path(__file__).with_name("templates") / "plugin"
NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]*")

# What each task's model offers, and the data it trains on out of the box. Translation needs
# aligned {"A", "B"} pairs, which the digits alone do not give; super_resolution makes them.
TASKS = {
    "generation": ("an MLP GAN", "sample: FID, sample grids, zoo sample", "digits"),
    "reconstruction": ("a dense autoencoder", "encode, decode, anomaly_score: zoo encode, zoo score", "digits"),
    "translation": ("a residual CNN for aligned image pairs",
                    "translate: translation FID, zoo translate", "super_resolution"),
}


@dataclass(frozen=True)
class PluginSpec:
    """Every name the templates need, derived from the one name the user gives."""

    name: str  # the registry name: `zoo fit --model NAME`
    task: str

    @property
    def package(self) -> str:
        """The import package; prefixed so a short name such as `gan` cannot shadow another module."""
        return f"zoo_{self.name}"

    @property
    def distribution(self) -> str:
        return f"zoo-{self.name.replace('_', '-')}"

    @property
    def class_name(self) -> str:
        return "".join(part.capitalize() for part in self.name.split("_") if part)

    @property
    def default_data(self) -> str:
        return TASKS[self.task][2]

    def substitutions(self) -> dict[str, str]:
        description, features, _ = TASKS[self.task]
        return {
            "name": self.name,
            "package": self.package,
            "distribution": self.distribution,
            "class_name": self.class_name,
            "default_data": self.default_data,
            # From the registry, so the config names whatever class the datamodule's entry point names.
            "data_class_path": registry.get("datamodule", self.default_data).target.replace(":", "."),
            "summary": f"{self.name}: {description} ({self.task}), made by zoo new-plugin.",
            "features": features,
        }


def check_name(name: str) -> None:
    """Refuse a name the zoo could not register: not a lower-case identifier, or already taken."""
    if not NAME_PATTERN.fullmatch(name) or keyword.iskeyword(name):
        raise ZooError(f"plugin name {name!r} must be a lower-case Python identifier (letters, digits, _), "
                       "e.g. my_gan; it becomes `--model NAME` and the package zoo_NAME")
    registered = registry.entries("model")
    if name in registered:
        raise ZooError(f"model name '{name}' is already registered by {registered[name].distribution}; "
                       "two distributions with one name would make both unusable, so pick another")


def package_files(spec: PluginSpec) -> dict[str, str]:
    """Relative path -> text of every file of the package."""
    values = spec.substitutions()

    def render(template: str) -> str:
        return Template((TEMPLATES / template).read_text()).substitute(values)

    return {
        "pyproject.toml": render("pyproject.toml.tmpl"),
        "README.md": render("README.md.tmpl"),
        ".gitignore": render("gitignore.tmpl"),
        f"{spec.package}/__init__.py": render("__init__.py.tmpl"),
        f"{spec.package}/model.py": render(f"{spec.task}/model.py.tmpl"),
        f"configs/{spec.name}.yaml": render(f"{spec.task}/config.yaml.tmpl"),
        f"tests/test_{spec.name}.py": render(f"{spec.task}/test.py.tmpl"),
    }


def write_plugin(path: Path, name: str, task: str) -> list[Path]:
    """Write the package for ``name`` into ``path`` (new or empty); returns the files written."""
    if task not in TASKS:
        raise ZooError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    check_name(name)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise ZooError(f"{path} already exists and is not an empty folder; zoo new-plugin never overwrites files")
    files = package_files(PluginSpec(name, task))  # rendered first: a template error writes nothing
    written = []
    for relative_path, text in files.items():
        target = path / relative_path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        written.append(target)
    return written
