"""The results table: registry.yaml's reference_results are the numbers docs/benchmarks.md shows (no training here)."""

from __future__ import annotations

import re

import yaml

from tests.conftest import REPO

PAGE = (REPO / "docs" / "benchmarks.md").read_text()
CATALOGUE = yaml.safe_load((REPO / "registry.yaml").read_text())


def reference_results() -> dict[tuple[str, str], str]:
    return {(model, measure): str(value) for model, card in CATALOGUE["models"].items()
            for measure, value in (card.get("reference_results") or {}).items()}


def page_reference_table() -> dict[tuple[str, str], str]:
    section = PAGE.split("## Reference results in registry.yaml", 1)[1]
    rows = re.findall(r"^\| `(\w+)` \| (.+?) \| ([-\d.]+) \|$", section, flags=re.M)
    return {(model, measure): value for model, measure, value in rows}


def test_registry_reference_results_and_the_benchmarks_page_agree():
    assert reference_results(), "registry.yaml has no reference_results"
    assert reference_results() == page_reference_table()


def test_every_reference_result_is_a_number_measured_in_the_pages_tables():
    tables = PAGE.split("## Reference results in registry.yaml", 1)[0]
    shown = {float(number) for number in re.findall(r"(?<![\w.])-?\d+\.\d+", tables)}
    for (model, measure), value in reference_results().items():
        assert float(value) in shown, (model, measure, value)


def test_dcgan_has_reference_results():
    assert any("FID" in measure for measure in CATALOGUE["models"]["dcgan"]["reference_results"])


def test_cyclegan_has_reference_results_from_the_thin_and_bold_digits():
    results = CATALOGUE["models"]["cyclegan"]["reference_results"]
    assert any("true bold" in measure for measure in results)
    assert "## CycleGAN between thin and bold digits" in PAGE
