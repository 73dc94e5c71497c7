"""``zoo export``: a checkpoint's inference graph as an ONNX or TorchScript file, checked against PyTorch.

    zoo export --ckpt runs/dcgan/version_0/checkpoints/last.ckpt --format onnx --out dcgan.onnx
    zoo export --ckpt runs/autoencoder/.../last.ckpt --format torchscript --out autoencoder.pt
    zoo export --ckpt runs/cyclegan/.../last.ckpt --format onnx --out b_to_a.onnx --direction BtoA

Which graph, its inputs and outputs, and the check against PyTorch: :mod:`zoo.exporting`.
"""

from __future__ import annotations

from collections.abc import Sequence

from zoo.checkpoints import load_model
from zoo.errors import CommandParser
from zoo.exporting import ATOL, FORMATS, RTOL, TASKS, ExportReport, export


def command_export(argv: Sequence[str]) -> ExportReport:
    """``zoo export --ckpt PATH --format onnx|torchscript --out FILE [--task TASK] [--direction AtoB|BtoA]``."""
    parser = CommandParser(prog="zoo export",
                           description="Write a checkpoint's inference graph as ONNX or TorchScript, checked "
                                       "against PyTorch.")
    parser.add_argument("--ckpt", required=True, help="checkpoint of any registered model")
    parser.add_argument("--format", required=True, choices=FORMATS)
    parser.add_argument("--out", required=True, help="file to write: NAME.onnx, or NAME.pt for TorchScript")
    parser.add_argument("--task", choices=TASKS, default=None,
                        help="which graph, for a model with several interfaces (default: by interface)")
    parser.add_argument("--direction", choices=("AtoB", "BtoA"), default="AtoB", help="translation models only")
    arguments = parser.parse_args(list(argv))
    report = export(load_model(arguments.ckpt), arguments.format, arguments.out, arguments.task, arguments.direction)
    metadata = report.metadata
    inputs = ", ".join(f"{name} {tuple(shape)}" for name, shape in metadata["zoo.inputs"].items())
    print(f"wrote {report.path} ({report.format}, {report.bytes / 1e6:.2f} MB, {report.seconds:.1f} s): "
          f"{metadata['zoo.model']} {metadata['zoo.task']} graph, {inputs} -> {', '.join(metadata['zoo.outputs'])}; "
          f"matches PyTorch within {report.max_difference:.2g} (tolerance {ATOL:g} + {RTOL:g} x |value|)")
    return report
