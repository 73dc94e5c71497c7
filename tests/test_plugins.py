"""Third-party models through entry points, as a plugin author and a user meet them.

Every test discovers plugins the way an installed zoo does, through ``importlib.metadata``:
the example plugin is pip-installed into a temporary folder, and fake distributions are
``NAME-0.1.dist-info`` folders with ``METADATA`` and ``entry_points.txt``. The folder goes on
the ``PYTHONPATH`` of a ``zoo`` subprocess, or on ``sys.path`` for in-process checks (with
the registry's cache cleared, so discovery runs again); the registry itself is never patched.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import FAST_TRAINER, REPO, run_zoo, zoo_in_process
from zoo import registry
from zoo.errors import ZooError

EXAMPLE = REPO / "examples" / "zoo-aae"


def write_distribution(site: Path, distribution: str, entry_points: dict[str, dict[str, str]],
                       modules: dict[str, str] | None = None) -> None:
    """Install a fake distribution into ``site`` as pip would leave it: a dist-info folder and its modules."""
    dist_info = site / f"{distribution.replace('-', '_')}-0.1.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 0.1\n")
    sections = [f"[{group}]\n" + "".join(f"{name} = {target}\n" for name, target in names.items())
                for group, names in entry_points.items()]
    (dist_info / "entry_points.txt").write_text("\n".join(sections))
    for module, source in (modules or {}).items():
        (site / f"{module}.py").write_text(source)


# A plugin whose module needs a package that is not installed: the commonest broken plugin.
BROKEN_MODULE = "import missing_dependency_of_fakeplugin\n"
# Two distributions that both register the model name `twin`.
TWIN_MODULE = """
import lightning as L


class Twin(L.LightningModule):
    def __init__(self, image_shape: tuple[int, int, int] = (1, 28, 28)) -> None:
        super().__init__()
"""


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory) -> Path:
    """A site folder holding the example plugin (pip-installed) beside a broken plugin and a name collision."""
    site = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--quiet", "--target",
         str(site), str(EXAMPLE)],
        check=True, capture_output=True, timeout=300,
    )
    write_distribution(site, "fakeplugin", {"zoo.models": {"broken": "fakeplugin_broken:Model",
                                                           "twin": "fakeplugin_twin:Twin"}},
                       {"fakeplugin_broken": BROKEN_MODULE, "fakeplugin_twin": TWIN_MODULE})
    write_distribution(site, "otherplugin", {"zoo.models": {"twin": "otherplugin_twin:Twin"}},
                       {"otherplugin_twin": TWIN_MODULE})
    return site


@pytest.fixture
def discover_from(monkeypatch):
    """Put a site folder on sys.path and let the registry discover again; undone after the test."""
    added_modules: set[str] = set()

    def add(site: Path) -> None:
        monkeypatch.syspath_prepend(str(site))
        importlib.invalidate_caches()
        registry.entries.cache_clear()
        added_modules.update(path.stem for path in site.glob("*.py"))

    yield add
    registry.entries.cache_clear()
    for module in added_modules:
        sys.modules.pop(module, None)


def table_rows(output: str) -> dict[str, str]:
    return {line.split("│")[1].strip(): line for line in output.splitlines() if line.count("│") >= 4}


# ------------------------------------------------------------------------ the CLI, end to end


def test_zoo_list_shows_the_plugin_and_marks_broken_ones_without_hiding_the_rest(plugin_site, monkeypatch, tmp_path):
    monkeypatch.setenv("PYTHONPATH", str(plugin_site))
    result = run_zoo(["list"], cwd=tmp_path)
    rows = table_rows(result.stdout)
    assert "zoo-aae" in rows["aae"] and "generation" in rows["aae"] and "digits" in rows["aae"]
    assert "broken" in rows["broken"] and "fakeplugin" in rows["broken"]
    assert "broken" in rows["twin"]
    assert "vae" in rows and "reconstruction" in rows["vae"]  # the built-ins are untouched
    problems = result.stdout[result.stdout.index("problems:"):]
    assert ("broken: model 'broken' from fakeplugin is broken: ModuleNotFoundError: "
            "No module named 'missing_dependency_of_fakeplugin'") in problems
    assert ("twin: model name 'twin' is registered twice: by fakeplugin (fakeplugin_twin:Twin) "
            "and by otherplugin (otherplugin_twin:Twin)") in problems


def test_zoo_list_check_fails_when_a_plugin_is_broken(plugin_site, monkeypatch, tmp_path):
    monkeypatch.setenv("PYTHONPATH", str(plugin_site))
    result = run_zoo(["list", "--check"], cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == "zoo: error: 2 registered name(s) are broken: broken, twin"


def test_zoo_fit_with_a_broken_plugin_fails_in_one_line_naming_its_distribution(plugin_site, discover_from, tmp_path,
                                                                                capsys):
    discover_from(plugin_site)
    result = zoo_in_process(["fit", "--model", "broken", "--data", "digits"], cwd=tmp_path, capsys=capsys)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "zoo: error: model 'broken' from fakeplugin is broken: ModuleNotFoundError: "
        "No module named 'missing_dependency_of_fakeplugin'")


def test_zoo_fit_trains_the_example_plugin_with_fid_and_sample_grids(plugin_site, monkeypatch, tmp_path):
    """The broken plugin and the collision are installed too: they must not get in the way."""
    monkeypatch.setenv("PYTHONPATH", str(plugin_site))
    run_zoo(["fit", "--model", "aae", "--data", "digits", *FAST_TRAINER, "--fid.num_samples", "100"], cwd=tmp_path)
    run_dir = tmp_path / "runs" / "aae" / "version_0"
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)
    assert checkpoint["hyper_parameters"]["_class_path"] == "zoo_aae.model.AdversarialAutoencoder"
    assert tuple(checkpoint["hyper_parameters"]["image_shape"]) == (1, 28, 28)  # linked from the data
    assert checkpoint["global_step"] == 4  # the step budget counts one reconstruction update per batch
    header = (run_dir / "metrics.csv").read_text().splitlines()[0].split(",")
    # Switched on by interface: the AAE has sample(), so it gets FID and KID like dcgan does.
    assert {"val/fid", "val/kid", "val/loss"} <= set(header)
    assert list((run_dir / "samples").glob("*.png")), "no sample grid was written"


# ------------------------------------------------------------------------ the registry, in process


def test_the_example_plugin_carries_its_metadata_and_works_as_a_model(plugin_site, discover_from, capsys):
    discover_from(plugin_site)
    from zoo.commands.info import command_info

    command_info(["aae"])
    card = capsys.readouterr().out
    assert "from zoo-aae" in card and "arXiv:1511.05644" in card and "latent_dim" in card
    model = registry.get("model", "aae").load()(image_shape=(1, 28, 28), latent_dim=8)
    images = torch.rand(5, 1, 28, 28)
    assert model.encode(images).shape == (5, 8)
    assert model.decode(model.encode(images)).shape == (5, 1, 28, 28)
    assert model.anomaly_score(images).shape == (5,)
    samples = model.sample(6, generator=torch.Generator().manual_seed(1))
    assert samples.shape == (6, 1, 28, 28) and 0 <= samples.min() and samples.max() <= 1
    assert torch.equal(samples, model.sample(6, generator=torch.Generator().manual_seed(1)))
    assert model.automatic_optimization is False  # what makes the CLI pick DDP with unused-parameter search


def test_a_name_two_distributions_register_fails_naming_both_and_other_names_still_work(plugin_site,
                                                                                      discover_from):
    discover_from(plugin_site)
    expected = "registered twice: by fakeplugin (fakeplugin_twin:Twin) and by otherplugin (otherplugin_twin:Twin)"
    with pytest.raises(ZooError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        registry.resolve_class_path("model", "twin")
    assert registry.resolve_class_path("model", "vae") == "zoo.models.vae.VAE"
    assert registry.resolve_class_path("model", "aae") == "zoo_aae.model.AdversarialAutoencoder"


# Anything LightningCLI trains is accepted (untyped arguments, **kwargs, no shape argument: see
# tests/test_bring_your_own.py); what is not a LightningModule is still refused.
CONTRACT_BREAKERS = {
    "not_a_module": ("class NotAModule:\n    def __init__(self, image_shape: tuple = (1, 28, 28)) -> None:\n"
                     "        pass\n", "class NotAModule is not a lightning LightningModule subclass"),
}


@pytest.mark.parametrize("case", sorted(CONTRACT_BREAKERS))
def test_a_model_that_breaks_the_contract_is_refused_naming_plugin_distribution_and_problem(
        case, tmp_path, discover_from):
    source, problem = CONTRACT_BREAKERS[case]
    module = f"contract_{case}"
    class_name = source.split()[1].split("(")[0].rstrip(":")
    write_distribution(tmp_path, f"contract-{case}", {"zoo.models": {case: f"{module}:{class_name}"}},
                       {module: "import lightning as L\n\n\n" + source})
    discover_from(tmp_path)
    with pytest.raises(ZooError) as error:
        registry.resolve_class_path("model", case)
    message = str(error.value)
    assert message.startswith(f"model '{case}' from contract-{case} ({module}:{class_name}) breaks the plugin contract")
    assert problem in message


def test_a_datamodule_must_be_a_lightning_datamodule(tmp_path, discover_from):
    write_distribution(tmp_path, "baddata", {"zoo.datamodules": {"baddata": "baddata_module:Loader"}},
                       {"baddata_module": "class Loader:\n    def __init__(self, root: str = '.') -> None:\n"
                                          "        self.root = root\n"})
    discover_from(tmp_path)
    with pytest.raises(ZooError, match="datamodule 'baddata' from baddata .*is not a lightning LightningDataModule"):
        registry.get("datamodule", "baddata").load()
