"""What a released library ships: its version in one place, a licence, a changelog, all linked from the README."""

from __future__ import annotations

import re

import tomllib

from tests.conftest import REPO, run_zoo


def test_zoo_version_prints_the_packages_version(tmp_path):
    import zoo

    assert run_zoo(["--version"], cwd=tmp_path).stdout.strip() == f"zoo {zoo.__version__}"
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert pyproject["project"]["dynamic"] == ["version"]  # read from zoo/__init__.py, not written twice
    assert pyproject["tool"]["hatch"]["version"]["path"] == "zoo/__init__.py"


def test_the_licence_is_the_one_pyproject_declares():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert pyproject["project"]["license"] == {"text": "Apache-2.0"}
    text = (REPO / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text


def test_the_changelog_keeps_a_changelog_and_names_this_version():
    import zoo

    text = (REPO / "CHANGELOG.md").read_text()
    assert "[Keep a Changelog](https://keepachangelog.com/" in text
    versions = re.findall(r"^## \[([^\]]+)\]", text, flags=re.MULTILINE)
    assert versions[0] == "Unreleased" and zoo.__version__ in versions
    sections = set(re.findall(r"^### (\w+)", text, flags=re.MULTILINE))
    assert sections <= {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}


def test_dependencies_do_not_cap_pytorch_below_its_next_major_version():
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    for name in ("torch", "torchvision"):
        (spec,) = [dependency for dependency in dependencies if re.match(rf"{name}\b[><=]", dependency)]
        assert "<" not in spec, spec


def test_the_readme_links_licence_changelog_and_troubleshooting_and_keeps_its_two_set_up_commands():
    readme = (REPO / "README.md").read_text()
    for target in ("LICENSE", "CHANGELOG.md", "docs/troubleshooting.md", "docs/results.md"):
        assert f"]({target})" in readme, target
    for target in ("LICENSE", "CHANGELOG.md", "docs/results.md"):  # troubleshooting.md is written on its own branch
        assert (REPO / target).is_file(), target
    set_up = readme.split("## Set-up on a fresh machine", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    assert [line.split("#")[0].strip() for line in set_up.strip().splitlines()] == ["make demo", "make test"]
