"""``make demo``: train the VAE and the autoencoder on the embedded digits, write what they learned.

Runs through the same CLI a user types (``zoo fit --model vae --data digits ...``), then
writes under ``runs/demo/``: a grid of VAE samples, inputs beside reconstructions for both
models, and the final test metrics as JSON. Offline; a few minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from torchvision.utils import make_grid, save_image

from zoo.training.cli import run_cli
from zoo.interfaces import Generation

OUT = Path("runs/demo")
EPOCHS = {"vae": 25, "autoencoder": 10}


def save_reconstructions(model, images: torch.Tensor, path: Path) -> None:
    """Inputs on the top row, their reconstructions below."""
    with torch.no_grad():
        reconstructions = model(images.to(model.device)).float().cpu()
    save_image(make_grid(torch.cat([images, reconstructions]), nrow=len(images), padding=2, pad_value=1.0), path)


def train(model_name: str, quick: bool) -> dict:
    started = time.perf_counter()
    epochs = 1 if quick else EPOCHS[model_name]
    cli = run_cli([
        "fit", "--model", model_name, "--data", "digits",
        "--trainer.max_epochs", str(epochs),
        "--trainer.default_root_dir", str(OUT),
        "--trainer.enable_model_summary", "false",
        # One process: the demo's models are tiny, and its files are written by this process alone.
        "--trainer.devices", "1",
        *(["--trainer.limit_train_batches", "5", "--trainer.limit_val_batches", "2"] if quick else []),
    ])
    train_seconds = time.perf_counter() - started
    # The last validation's numbers, FID included (logged by a callback, so not part of `test`).
    validation = {key: round(float(value), 4) for key, value in sorted(cli.trainer.callback_metrics.items())
                  if key.startswith("val/")}
    model, datamodule = cli.model.eval(), cli.datamodule
    (test_metrics,) = cli.trainer.test(model, datamodule=datamodule, verbose=False)
    test_images = next(iter(datamodule.test_dataloader()))[0][:16]
    written = {"reconstructions": OUT / f"{model_name}_reconstructions.png"}
    save_reconstructions(model, test_images, written["reconstructions"])
    if isinstance(model, Generation):
        written["samples"] = OUT / f"{model_name}_samples.png"
        samples = model.sample(64, generator=torch.Generator().manual_seed(0)).cpu()
        save_image(make_grid(samples, nrow=8, padding=2, pad_value=1.0), written["samples"])
    return {
        "test_metrics": {key: round(float(value), 4) for key, value in sorted(test_metrics.items())},
        "last_validation": validation,
        "epochs": epochs,
        "train_seconds": round(train_seconds, 1),
        "checkpoint": str(cli.trainer.checkpoint_callback.last_model_path),
        "files": {key: str(path) for key, path in written.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m zoo.commands.demo", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few batches per model: checks the pipeline only")
    quick = parser.parse_args().quick
    OUT.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results = {name: train(name, quick) for name in EPOCHS}
    results["wall_seconds"] = round(time.perf_counter() - started, 1)
    metrics_path = OUT / "metrics.json"
    metrics_path.write_text(json.dumps(results, indent=2) + "\n")
    print("\nzoo demo finished in", results["wall_seconds"], "s. Wrote:")
    for name in EPOCHS:
        for path in results[name]["files"].values():
            print("  ", path)
        print(f"   {name} test metrics:", results[name]["test_metrics"])
        if "val/fid" in results[name]["last_validation"]:
            print(f"   {name} FID (digits features, validation):", results[name]["last_validation"]["val/fid"])
    print("  ", metrics_path)


if __name__ == "__main__":
    main()
