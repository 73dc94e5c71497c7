"""Export time, file sizes, and onnxruntime against PyTorch inference speed, in one process.

For the ``dcgan`` generator (latents -> images) and the ``autoencoder`` (images ->
reconstructions, latents, scores), both at their default sizes on 1x28x28 digits: exports
each to ONNX and TorchScript with :func:`zoo.exporting.export` (which also checks the file
against PyTorch), then times ``--repeats`` interleaved rounds of ``--iterations`` batches of
``--batch-size`` through PyTorch (eager, ``no_grad``), TorchScript (``torch.jit.load``) and
onnxruntime (CPU provider), all on ``--threads`` threads; prints medians and ratios against
PyTorch eager.

    nice python benchmarks/export_speed.py
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import torch

from zoo import registry
from zoo.exporting import build_graph, export


def timed(run, iterations: int) -> float:
    started = time.perf_counter()
    for _ in range(iterations):
        run()
    return (time.perf_counter() - started) / iterations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", message=r".*torch\\.jit\\..* is deprecated")
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = args.threads
    print(f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, {args.threads} thread(s), "
          f"batch {args.batch_size}, median of {args.repeats} x {args.iterations} batches")
    with tempfile.TemporaryDirectory() as folder:
        for name in ("dcgan", "autoencoder"):
            torch.manual_seed(0)
            model = registry.get("model", name).load()().eval()
            graph = build_graph(model)
            inputs = (torch.randn(args.batch_size, *graph.example.shape[1:]) if name == "dcgan"
                      else torch.rand(args.batch_size, *graph.example.shape[1:]))
            reports = {fmt: export(model, fmt, Path(folder) / f"{name}.{'onnx' if fmt == 'onnx' else 'pt'}")
                       for fmt in ("onnx", "torchscript")}
            weights = sum(p.numel() * p.element_size() for p in model.parameters())
            print(f"\n{name} ({graph.metadata['zoo.task']} graph, {weights / 1e6:.2f} MB of float32 parameters)")
            for fmt, report in reports.items():
                print(f"  {fmt:<12} export {report.seconds:6.2f} s   file {report.bytes / 1e6:6.2f} MB   "
                      f"max |difference| {report.max_difference:.2g}")
            session = onnxruntime.InferenceSession(str(reports["onnx"].path), options,
                                                   providers=["CPUExecutionProvider"])
            feed = {session.get_inputs()[0].name: inputs.numpy()}
            scripted = torch.jit.load(str(reports["torchscript"].path))
            runners = {
                "pytorch": lambda: graph.module(inputs),
                "torchscript": lambda: scripted(inputs),
                "onnxruntime": lambda: session.run(None, feed),
            }
            times = {runner: [] for runner in runners}
            with torch.no_grad():
                for run in runners.values():
                    timed(run, 3)  # warm-up: allocations, oneDNN primitive caches, ORT's first run
                for _ in range(args.repeats):
                    for runner, run in runners.items():
                        times[runner].append(timed(run, args.iterations))
            baseline = statistics.median(times["pytorch"])
            for runner, samples in times.items():
                seconds = statistics.median(samples)
                print(f"  {runner:<12} {seconds * 1e3:8.2f} ms/batch  {args.batch_size / seconds:9.0f} images/s  "
                      f"x{baseline / seconds:.2f} vs pytorch")


if __name__ == "__main__":
    main()
