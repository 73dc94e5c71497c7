"""`make docs`: the site builds from docs/ with MkDocs in strict mode, API reference included."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import REPO


def build(config: Path, site: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config), "--site-dir", str(site)],
        cwd=REPO, capture_output=True, text=True, timeout=300, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )


def test_the_site_builds_in_strict_mode_with_every_page_and_the_api_reference(tmp_path):
    result = build(REPO / "mkdocs.yml", tmp_path / "site")
    assert result.returncode == 0, result.stderr[-4000:]
    site = tmp_path / "site"
    assert "A PyTorch Lightning model zoo" in (site / "index.html").read_text()
    pix2pix = (site / "models" / "pix2pix" / "index.html").read_text()
    assert "<code>OptimizerCallable</code> | <code>None</code>" in pix2pix
    assert "&amp;#124;" not in pix2pix and ":class:" not in pix2pix
    reference = (site / "api" / "models" / "index.html").read_text()
    assert "zoo.models.dcgan.DCGAN" in reference and "anomaly_score" in reference
    assert ":class:" not in reference and ":func:" not in reference  # docstrings' Sphinx roles became Markdown


def test_a_broken_link_fails_the_build(tmp_path):
    """Strict mode is what makes the build a check: the same config over docs/ with one link broken."""
    docs = tmp_path / "docs"
    shutil.copytree(REPO / "docs", docs)
    (docs / "guide.md").write_text((docs / "guide.md").read_text() + "\nSee [the missing page](missing.md).\n")
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text())
    config["docs_dir"] = str(docs)
    handler = config["plugins"][1]["mkdocstrings"]["handlers"]["python"]
    handler["paths"] = [str(REPO)]
    handler["options"]["extensions"] = [str(REPO / "scripts" / "griffe_markdown.py") + ":MarkdownDocstrings"]
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(config))
    result = build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert result.returncode != 0
    assert "missing.md" in result.stderr
