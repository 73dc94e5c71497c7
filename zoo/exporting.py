"""A checkpoint's inference graph as an ONNX or TorchScript file, checked against PyTorch (``zoo export``).

    zoo export --ckpt runs/dcgan/version_0/checkpoints/last.ckpt --format onnx --out dcgan.onnx
    zoo export --ckpt runs/autoencoder/.../last.ckpt --format torchscript --out autoencoder.pt
    zoo export --ckpt runs/cyclegan/.../last.ckpt --format onnx --out b_to_a.onnx --direction BtoA

What is exported is the graph a user of the task needs, chosen by interface like every other
feature (see :func:`task_of`):

| task | inputs | outputs |
| --- | --- | --- |
| generation | ``latents`` (N, latent_dim) | ``images`` (N, C, H, W) in [0, 1] |
| reconstruction | ``images`` (N, C, H, W) | ``reconstructions``, ``latents`` (N, latent_dim), ``scores`` (N,) |
| translation | ``images`` (N, C, H, W) in [0, 1] | ``translated`` (N, C, H, W) in [0, 1] |

The batch dimension is dynamic. The file carries its own description (:func:`metadata`:
task, model, image shape, value range, inputs and outputs): ONNX in ``metadata_props``,
TorchScript in an extra file ``zoo.json``. After writing, the file is run on a batch of
another size (onnxruntime for ONNX, ``torch.jit.load`` for TorchScript) and its outputs are
compared with the PyTorch model's, within :data:`ATOL` + :data:`RTOL` x |expected|.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from zoo import interfaces, registry
from zoo.errors import ZooError

FORMATS = ("onnx", "torchscript")
TASKS = ("generation", "reconstruction", "translation")
# Float32 graphs re-run by another runtime differ by kernel order and fused operations only.
ATOL = 1e-4
RTOL = 1e-4
EXAMPLE_BATCH = 2  # torch.export treats a batch of 1 as a constant; 2 keeps the dimension symbolic
CHECK_BATCH = 3  # a size the graph was not traced at: checks that the batch really is dynamic
METADATA_FILE = "zoo.json"  # the TorchScript file's extra file holding the metadata


def optional_import(module: str):
    """A module of the ``export`` extra, or a one-line ZooError saying how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ZooError(f"this needs {module.split('.')[0]}, which is not installed: pip install 'zoo[export]'") from exc


def task_of(model: nn.Module, task: str | None = None) -> str:
    """The task whose graph to export: ``task`` if given (and the model has its interface), else by interface.

    A model with several interfaces (the VAE has ``sample`` and ``encode``) exports its declared
    ``task`` attribute's graph, or the first of translation, reconstruction, generation it has.
    """
    if task is not None:
        if not interfaces.offers(model, task):
            offered = [name for name in TASKS if interfaces.offers(model, name)]
            raise ZooError(f"{_model_name(model)} has no {task} interface ({_interface_text(task)}); "
                           f"it offers: {', '.join(offered) or 'none'}")
        return task
    preferred = interfaces.preferred_task(model)
    if preferred is None:
        raise ZooError(f"{_model_name(model)} has none of the task interfaces zoo export needs: "
                       + "; ".join(f"{name}: {_interface_text(name)}" for name in TASKS))
    return preferred


def _interface_text(task: str) -> str:
    return {"generation": "latent_dim and sample(), with forward(latents) or decode(latents) giving images",
            "reconstruction": "encode(), decode() and anomaly_score()",
            "translation": "translate()"}[task]


def _model_name(model: nn.Module) -> str:
    return registry.display_name(type(model), "model")


class GenerationGraph(nn.Module):
    """latents (N, latent_dim) -> images (N, C, H, W) in [0, 1]: ``decode`` if the model has one, else ``forward``."""

    inputs = ("latents",)
    outputs = ("images",)

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        if isinstance(self.model, interfaces.Decoding):
            return self.model.decode(latents)
        return self.model(latents)


class ReconstructionGraph(nn.Module):
    """images -> (reconstructions, latents, anomaly scores), the three things `zoo encode` and `zoo score` give."""

    inputs = ("images",)
    outputs = ("reconstructions", "latents", "scores")

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        latents = self.model.encode(images)
        return self.model.decode(latents), latents, self.model.anomaly_score(images)


class TranslationGraph(nn.Module):
    """images of domain A -> images of domain B (or B -> A with ``direction="BtoA"``), both in [0, 1]."""

    inputs = ("images",)
    outputs = ("translated",)  # ONNX refuses an output named like an input

    def __init__(self, model: nn.Module, direction: str = "AtoB") -> None:
        super().__init__()
        self.model = model
        self.direction = direction

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model.translate(images, direction=self.direction)


def image_shape_of(model: nn.Module) -> tuple[int, int, int]:
    """(C, H, W) from the model, whichever spelling it keeps (see :data:`zoo.registry.SHAPE_ARGUMENTS`)."""
    hparams = getattr(model, "hparams", {})
    for source in (model.__dict__, hparams):
        for name in ("image_shape", "img_shape", "input_shape"):
            if source.get(name) is not None:
                return tuple(int(size) for size in source[name])
    if all(name in hparams for name in ("channels", "height", "width")):
        return int(hparams["channels"]), int(hparams["height"]), int(hparams["width"])
    raise ZooError(f"{_model_name(model)} does not say its image shape (an image_shape attribute or hyper-parameter, "
                   "or channels/height/width hyper-parameters); zoo export needs it for the graph's inputs")


@dataclass
class ExportGraph:
    """The module to trace, an example input, and the description written into the file."""

    module: nn.Module
    example: torch.Tensor
    check_input: torch.Tensor
    metadata: dict[str, Any]


def build_graph(model: nn.Module, task: str | None = None, direction: str = "AtoB") -> ExportGraph:
    model = model.eval().float()
    task = task_of(model, task)
    image_shape = image_shape_of(model)
    rng = torch.Generator().manual_seed(0)
    if task == "generation":
        module: nn.Module = GenerationGraph(model)
        latent_dim = interfaces.latent_dim_of(model)
        example, check = (torch.randn(size, latent_dim, generator=rng) for size in (EXAMPLE_BATCH, CHECK_BATCH))
        input_shapes = {"latents": ["batch", latent_dim]}
    else:
        module = ReconstructionGraph(model) if task == "reconstruction" else TranslationGraph(model, direction)
        example, check = (torch.rand(size, *image_shape, generator=rng) for size in (EXAMPLE_BATCH, CHECK_BATCH))
        input_shapes = {"images": ["batch", *image_shape]}
    metadata = {
        "zoo.task": task,
        "zoo.model": _model_name(model),
        "zoo.class": registry.class_path_of(type(model)),
        "zoo.image_shape": list(image_shape),
        "zoo.value_range": [0.0, 1.0],
        "zoo.layout": "NCHW, float32",
        "zoo.inputs": input_shapes,
        "zoo.outputs": list(module.outputs),
    }
    if task == "generation":
        metadata["zoo.latent_dim"] = interfaces.latent_dim_of(model)
    if task == "translation":
        metadata["zoo.direction"] = direction
    return ExportGraph(module.eval(), example, check, metadata)


def _outputs(value: Any) -> list[torch.Tensor]:
    return list(value) if isinstance(value, (tuple, list)) else [value]


def _unsupported_operation(error: BaseException) -> str:
    """The operation an exporter choked on, as it names it (``aten._linalg_svd``), or the error's first line."""
    text = "\n".join(str(cause) for cause in _chain(error))
    for pattern in (r"OpOverload\(op='([^']+)'", r"Unsupported FX nodes: \{'call_function': \['([^']+)'",
                    r"(aten::\w+)", r"(aten\.\w+)"):
        match = re.search(pattern, text)
        if match:
            return f"operation {match.group(1)}"
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _chain(error: BaseException | None):
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def _write_onnx(graph: ExportGraph, out: Path) -> None:
    onnx = optional_import("onnx")
    optional_import("onnxscript")  # torch.onnx.export's own dependency; its ImportError would be a traceback
    batch = torch.export.Dim("batch", min=1)
    input_name = graph.module.inputs[0]
    torch.onnx.export(graph.module, (graph.example,), str(out), input_names=list(graph.module.inputs),
                      output_names=list(graph.module.outputs), dynamic_shapes={input_name: {0: batch}},
                      dynamo=True, external_data=False, verbose=False)
    proto = onnx.load(str(out))
    for key, value in graph.metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, json.dumps(value)
    onnx.save(proto, str(out))


def _write_torchscript(graph: ExportGraph, out: Path) -> None:
    model = graph.module.model
    # The tracer reads every attribute of a LightningModule, and `trainer` raises when none is attached;
    # Lightning's own to_torchscript sets this flag for the same reason.
    was_scripting = getattr(model, "_jit_is_scripting", None)
    if was_scripting is not None:
        model._jit_is_scripting = True
    try:
        with torch.no_grad(), _quiet_jit():
            traced = torch.jit.trace(graph.module, (graph.example,), check_trace=False)
            torch.jit.save(traced, str(out), _extra_files={METADATA_FILE: json.dumps(graph.metadata)})
    finally:
        if was_scripting is not None:
            model._jit_is_scripting = was_scripting


@contextlib.contextmanager
def _quiet_jit():
    """TorchScript is deprecated in torch >= 2.10 but still what many servers load; its warnings say so at each call.

    Tracer warnings (a Python ``if`` on a shape) are silenced too: the file is checked on a batch
    of another size after export, which is what those warnings are about.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit\..* is deprecated", category=FutureWarning)
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        yield


def run_exported(path: str | Path, inputs: torch.Tensor) -> list[torch.Tensor]:
    """Run an exported file the way a deployment would: onnxruntime for ``.onnx``, ``torch.jit.load`` otherwise."""
    path = Path(path)
    if _format_of(path) == "onnx":
        onnxruntime = optional_import("onnxruntime")
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        results = session.run(None, {session.get_inputs()[0].name: inputs.numpy()})
        return [torch.from_numpy(result) for result in results]
    with _quiet_jit():
        module = torch.jit.load(str(path), map_location="cpu")
    with torch.no_grad():
        return _outputs(module(inputs))


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The description :func:`export` wrote into a file (task, image shape, value range, inputs, outputs)."""
    path = Path(path)
    if _format_of(path) == "onnx":
        proto = optional_import("onnx").load(str(path), load_external_data=False)
        return {entry.key: json.loads(entry.value) for entry in proto.metadata_props if entry.key.startswith("zoo.")}
    extra = {METADATA_FILE: ""}
    with _quiet_jit():
        torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    return json.loads(extra[METADATA_FILE])


def _format_of(path: Path) -> str:
    return "onnx" if path.suffix == ".onnx" else "torchscript"


def compare(expected: list[torch.Tensor], actual: list[torch.Tensor], names: Sequence[str]) -> float:
    """The largest absolute difference; raises a ZooError naming the output that differs beyond the tolerance."""
    worst = 0.0
    for name, want, got in zip(names, expected, actual, strict=True):
        if tuple(want.shape) != tuple(got.shape):
            raise ZooError(f"exported output '{name}' has shape {tuple(got.shape)}, PyTorch gives {tuple(want.shape)}")
        difference = (want.float() - got.float()).abs()
        if bool((difference > ATOL + RTOL * want.float().abs()).any()):
            raise ZooError(f"exported output '{name}' differs from PyTorch by up to {difference.max().item():.3g} "
                           f"(tolerance {ATOL:g} + {RTOL:g} x |value|)")
        worst = max(worst, difference.max().item())
    return worst


def _check_value_range(images: torch.Tensor, graph: ExportGraph) -> None:
    """The metadata promises images in [0, 1]; a graph that breaks the promise (a tanh GAN's forward) is refused."""
    low, high = images.min().item(), images.max().item()
    if low < -ATOL or high > 1 + ATOL:
        hint = ("give the model a decode(latents) that returns images in [0, 1] (e.g. (forward(latents) + 1) / 2); "
                "the export uses it" if graph.metadata["zoo.task"] == "generation" else "images must be in [0, 1]")
        raise ZooError(f"its {graph.module.outputs[0]} span [{low:.3g}, {high:.3g}], not [0, 1]: {hint}")


@dataclass
class ExportReport:
    path: Path
    format: str
    metadata: dict[str, Any]
    seconds: float
    bytes: int
    max_difference: float


def export(model: nn.Module, format: str, out: str | Path, task: str | None = None,
           direction: str = "AtoB") -> ExportReport:
    """Write ``model``'s inference graph to ``out`` as ``format`` ("onnx" or "torchscript"), then check it.

    A graph the exporter cannot express fails with one ZooError line naming the operation.
    """
    if format not in FORMATS:
        raise ZooError(f"unknown export format {format!r}; choose one of {', '.join(FORMATS)}")
    out = Path(out).expanduser()
    if (format == "onnx") != (out.suffix == ".onnx"):
        raise ZooError(f"--out {out}: an ONNX file must end in .onnx and a TorchScript file must not (use .pt)")
    out.parent.mkdir(parents=True, exist_ok=True)
    graph = build_graph(model, task, direction)
    started = time.perf_counter()
    try:
        (_write_onnx if format == "onnx" else _write_torchscript)(graph, out)
    except Exception as exc:  # exporters raise many types; the user needs the operation, not the stack
        out.unlink(missing_ok=True)
        raise ZooError(f"{graph.metadata['zoo.model']} cannot be exported to {format}: "
                       f"{_unsupported_operation(exc)}") from exc
    seconds = time.perf_counter() - started
    with torch.no_grad():
        expected = _outputs(graph.module(graph.check_input))
    try:
        _check_value_range(expected[0], graph)
        difference = compare(expected, run_exported(out, graph.check_input), graph.module.outputs)
    except ZooError as exc:
        out.unlink(missing_ok=True)
        raise ZooError(f"{out} was not kept: {exc}") from exc
    return ExportReport(out, format, graph.metadata, seconds, out.stat().st_size, difference)
