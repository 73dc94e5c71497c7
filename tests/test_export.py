"""`zoo export`, `zoo.load`, `zoo.save_pretrained` / `zoo.from_pretrained`: a trained model leaves the zoo.

Each task's graph is exported to ONNX and TorchScript, run the way a deployment runs it
(onnxruntime; ``torch.jit.load``) on a batch of a size it was not traced at, and compared with
the model's own methods. A pretrained folder round-trips exactly and holds no pickle.
"""

from __future__ import annotations

import json
import re

import lightning
import onnxruntime
import pytest
import torch

import zoo
from tests.conftest import run_zoo, zoo_in_process
from tests.test_plugins import discover_from, write_distribution  # noqa: F401  (a fixture)
from zoo import registry
from zoo.errors import ZooError
from zoo.exporting import ATOL, RTOL, read_metadata, run_exported

# One model of each task, small enough to export in seconds.
MODELS = {
    "generation": ("dcgan", {"generator_features": 8, "discriminator_features": 8}),
    "reconstruction": ("autoencoder", {}),
    "translation": ("pix2pix", {"image_shape": (1, 32, 32), "generator_channels": 8, "discriminator_channels": 8}),
}
SUFFIX = {"onnx": ".onnx", "torchscript": ".pt"}


def model_outputs(model, task: str, inputs: torch.Tensor) -> list[torch.Tensor]:
    """What the model's own task interface gives for ``inputs``: the reference an exported file must match."""
    with torch.no_grad():
        if task == "generation":
            return [model(inputs)]
        if task == "reconstruction":
            latents = model.encode(inputs)
            return [model.decode(latents), latents, model.anomaly_score(inputs)]
        return [model.translate(inputs, direction="AtoB")]


def assert_close(expected: list[torch.Tensor], actual: list[torch.Tensor]) -> None:
    assert len(expected) == len(actual)
    for want, got in zip(expected, actual):
        torch.testing.assert_close(got, want, atol=ATOL, rtol=RTOL)


@pytest.mark.parametrize("export_format", ["onnx", "torchscript"])
@pytest.mark.parametrize("task", sorted(MODELS))
def test_each_task_exports_and_the_file_matches_the_model(task, export_format, tmp_path):
    name, arguments = MODELS[task]
    torch.manual_seed(0)
    model = registry.get("model", name).load()(**arguments).eval()
    report = zoo.export(model, export_format, tmp_path / f"{name}{SUFFIX[export_format]}")
    metadata = read_metadata(report.path)
    image_shape = list(model.image_shape)
    assert metadata["zoo.task"] == task and metadata["zoo.model"] == name
    assert metadata["zoo.image_shape"] == image_shape and metadata["zoo.value_range"] == [0.0, 1.0]
    # Five is neither the traced batch (2) nor the checked one (3): the batch dimension is dynamic.
    generator = torch.Generator().manual_seed(1)
    inputs = (torch.randn(5, model.latent_dim, generator=generator) if task == "generation"
              else torch.rand(5, *image_shape, generator=generator))
    actual = run_exported(report.path, inputs)
    assert_close(model_outputs(model, task, inputs), actual)
    assert 0 <= actual[0].min() and actual[0].max() <= 1
    if export_format == "onnx":
        session = onnxruntime.InferenceSession(str(report.path), providers=["CPUExecutionProvider"])
        assert [node.name for node in session.get_outputs()] == metadata["zoo.outputs"]
        assert session.get_inputs()[0].shape[0] == "batch"


def test_zoo_export_from_a_trained_checkpoint_and_the_python_api_reads_it_back(tmp_path, trained_autoencoder):
    checkpoint = trained_autoencoder  # `zoo fit --model autoencoder --data digits`, shared with other files
    result = run_zoo(["export", "--ckpt", str(checkpoint), "--format", "onnx", "--out", "ae.onnx"],
                     cwd=tmp_path, in_process=True)
    assert result.stdout.startswith("wrote ae.onnx (onnx, ") and "matches PyTorch within" in result.stdout
    model = zoo.load(checkpoint)
    assert not model.training and callable(model.anomaly_score)
    images = torch.rand(7, 1, 28, 28)
    assert_close(model_outputs(model, "reconstruction", images), run_exported(tmp_path / "ae.onnx", images))

    folder = zoo.save_pretrained(model, tmp_path / "ae-digits")
    assert sorted(path.name for path in folder.iterdir()) == ["config.json", "model.safetensors"]
    config = json.loads((folder / "config.json").read_text())
    assert config["model"] == "autoencoder" and config["init_args"]["image_shape"] == [1, 28, 28]
    assert not {"img_shape", "input_shape", "channels", "height", "width"} & set(config["init_args"])
    restored = zoo.from_pretrained(folder)
    assert type(restored) is type(model) and not restored.training
    state, restored_state = model.state_dict(), restored.state_dict()
    assert state.keys() == restored_state.keys()
    assert all(torch.equal(state[key], restored_state[key]) for key in state)
    assert torch.equal(restored.anomaly_score(images), model.anomaly_score(images))
    assert type(zoo.load(folder)) is type(model)  # zoo.load takes a folder too


def test_save_pretrained_round_trips_a_model_built_in_python_exactly(tmp_path):
    torch.manual_seed(0)
    model = registry.get("model", "dcgan").load()(latent_dim=12, generator_features=8, discriminator_features=8)
    restored = zoo.from_pretrained(zoo.save_pretrained(model, tmp_path / "dcgan"))
    assert restored.latent_dim == 12
    latents = torch.randn(4, 12)
    assert torch.equal(restored(latents), model.eval()(latents))
    assert all(torch.equal(value, restored.state_dict()[key]) for key, value in model.state_dict().items())


def test_a_model_configured_through_the_cli_round_trips_with_its_optimizer_config(tmp_path):
    from zoo.training.cli import run_cli

    cli = run_cli(["--model", "dcgan", "--data", "digits", "--model.generator_features", "8",
                   "--model.discriminator_features", "8", "--model.optimizer_g", "torch.optim.RMSprop",
                   "--model.optimizer_g.lr", "0.0003"], run=False)
    restored = zoo.from_pretrained(zoo.save_pretrained(cli.model, tmp_path / "dcgan"))
    assert isinstance(restored.optimizer_g(restored.generator.parameters()), torch.optim.RMSprop)
    assert restored.optimizer_g(restored.generator.parameters()).defaults["lr"] == 0.0003
    assert all(torch.equal(value, restored.state_dict()[key]) for key, value in cli.model.state_dict().items())


def test_from_pretrained_refuses_a_class_no_installed_package_registers(tmp_path):
    folder = zoo.save_pretrained(registry.get("model", "autoencoder").load()(), tmp_path / "ae")
    config = json.loads((folder / "config.json").read_text())
    config["class_path"] = "somewhere.else.Evil"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ZooError, match="no installed package registers"):
        zoo.from_pretrained(folder)


# A generator whose graph has no ONNX equivalent: its images pass through a singular-value decomposition.
SVD_PLUGIN = '''
import lightning as L
import torch


class SvdGenerator(L.LightningModule):
    def __init__(self, image_shape: tuple[int, int, int] = (1, 8, 8), latent_dim: int = 8) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.image_shape, self.latent_dim = tuple(image_shape), latent_dim
        self.net = torch.nn.Linear(latent_dim, image_shape[1] * image_shape[2])

    def forward(self, latents):
        images = self.net(latents).view(-1, self.image_shape[1], self.image_shape[2])
        u, s, v = torch.linalg.svd(images)
        return torch.sigmoid(u @ v).unsqueeze(1)

    def sample(self, n, generator=None):
        return self(torch.randn(n, self.latent_dim, generator=generator))
'''


def test_a_model_whose_graph_cannot_export_is_refused_in_one_line_naming_the_operation(tmp_path, discover_from,
                                                                                        capsys):
    site = tmp_path / "site"
    write_distribution(site, "svd-gan", {"zoo.models": {"svd_gan": "svd_gan:SvdGenerator"}}, {"svd_gan": SVD_PLUGIN})
    discover_from(site)
    from svd_gan import SvdGenerator

    checkpoint = tmp_path / "svd.ckpt"
    torch.save({"state_dict": SvdGenerator().state_dict(), "pytorch-lightning_version": lightning.__version__,
                "hyper_parameters": {"image_shape": (1, 8, 8), "latent_dim": 8,
                                     "_class_path": "svd_gan.SvdGenerator"}}, checkpoint)
    result = zoo_in_process(["export", "--ckpt", str(checkpoint), "--format", "onnx", "--out", "svd.onnx"],
                            cwd=tmp_path, capsys=capsys)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "zoo: error: svd_gan cannot be exported to onnx: operation aten._linalg_svd")
    assert not (tmp_path / "svd.onnx").exists()


def test_the_serving_example_in_docs_deploy_runs_an_exported_file(tmp_path):
    """docs/deploy.md's serve.py, needing only onnxruntime, gives what the model gives."""
    from tests.conftest import REPO

    source = re.search(r'```python\n("""serve\.py.*?)```', (REPO / "docs" / "deploy.md").read_text(), re.S).group(1)
    namespace: dict = {"__name__": "serve"}
    exec(compile(source, "serve.py", "exec"), namespace)
    torch.manual_seed(0)
    autoencoder = registry.get("model", "autoencoder").load()().eval()
    served = namespace["Model"](str(zoo.export(autoencoder, "onnx", tmp_path / "ae.onnx").path))
    images = torch.rand(2, 1, 28, 28)
    response = json.loads(json.dumps(served.predict({"images": images.tolist()})))
    assert sorted(response) == ["latents", "reconstructions", "scores"]
    torch.testing.assert_close(torch.tensor(response["scores"]), autoencoder.anomaly_score(images), atol=ATOL,
                               rtol=RTOL)
    dcgan = registry.get("model", "dcgan").load()(generator_features=8, discriminator_features=8).eval()
    generated = namespace["Model"](str(zoo.export(dcgan, "onnx", tmp_path / "g.onnx").path)).predict({"n": 3})
    assert torch.tensor(generated["images"]).shape == (3, 1, 28, 28)


def test_a_tutorial_gan_exports_once_it_gives_images_in_0_1(tmp_path, discover_from):
    """Its forward gives tanh's [-1, 1], which the file's metadata would misstate: refused until it has decode()."""
    from tests.test_bring_your_own import install

    install(tmp_path)
    discover_from(tmp_path)
    torch.manual_seed(0)
    model = registry.get("model", "tutorial_gan_sampling").load()(channels=1, width=28, height=28, latent_dim=16)
    with pytest.raises(ZooError, match=r"its images span \[-.*, not \[0, 1\]: give the model a decode\(latents\)"):
        zoo.export(model, "onnx", tmp_path / "gan.onnx")
    assert not (tmp_path / "gan.onnx").exists()
    type(model).decode = lambda self, latents: (self(latents) + 1) / 2
    try:
        report = zoo.export(model, "torchscript", tmp_path / "gan.pt")
    finally:
        del type(model).decode
    assert read_metadata(report.path)["zoo.latent_dim"] == 16  # from the hyper-parameters
    assert read_metadata(report.path)["zoo.image_shape"] == [1, 28, 28]  # from channels, height, width
