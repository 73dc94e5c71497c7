"""Pictures for the model pages, made by the zoo itself: ``python scripts/doc_pictures.py [NAME ...]``.

Each family trains briefly on the embedded digits through the same CLI a user types, then
draws what it learned into ``docs/models/images/NAME.png``: a sample grid for models with
``sample``, input over reconstruction rows for autoencoders, A | output | target for
Pix2Pix (super-resolution), A | B | A again rows for CycleGAN (thin and bold digits, two
unpaired domains this script writes). ``python -m zoo.commands.docgen`` then embeds each picture.
CPU budgets are small on purpose (seconds to a few minutes each): the pictures show what a
short run gives, and the page gives the command that trained it.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch
from torchvision.utils import make_grid, save_image

from zoo.training.cli import run_cli
from zoo.data.digits import write_thin_and_bold_digits

IMAGES = Path(__file__).resolve().parent.parent / "docs" / "models" / "images"
ROOT = Path("runs/doc_pictures")
BOLD_DIGITS = ROOT / "bold_digits"
# Training budgets: extra CLI flags per family (digits unless said otherwise).
BUDGETS = {
    "autoencoder": ["--trainer.max_epochs", "5"],
    "denoising_autoencoder": ["--trainer.max_epochs", "5"],
    "vae": ["--trainer.max_epochs", "15"],
    "gan": ["--trainer.max_steps", "2000"],
    "dcgan": ["--trainer.max_steps", "400"],
    "wgan": ["--trainer.max_steps", "800"],
    "wgan_gp": ["--trainer.max_steps", "800"],
    "pix2pix": ["--data", "super_resolution", "--data.scale", "2", "--trainer.max_steps", "400"],
    "cyclegan": ["--data", "unpaired", "--data.root", str(BOLD_DIGITS), "--data.channels", "1",
                 "--data.image_size", "28", "--data.load_size", "28", "--data.flip", "false",
                 "--data.batch_size", "8", "--model.generator_channels", "32",
                 "--model.discriminator_channels", "32", "--trainer.max_steps", "600"],
}


def thin_and_bold_digits(root: Path) -> str:
    """Writes the thin (A) and bold (B) digit domains (``zoo.data.digits.write_thin_and_bold_digits``)."""
    write_thin_and_bold_digits(root)
    return ("unpaired thin digits (A) and bold digits (B) that the script writes first. "
            "Each row: A, A→B, back to A, B, B→A, back to B")


# Families whose data this script writes first; each writer returns how the caption names the data.
DATA_WRITERS = {"cyclegan": lambda: thin_and_bold_digits(BOLD_DIGITS)}


def picture(model, datamodule) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        if callable(getattr(model, "translation_grid", None)):
            return model.translation_grid(next(iter(datamodule.val_dataloader())), max_images=8).cpu()
        if callable(getattr(model, "sample", None)):
            samples = model.sample(64, generator=torch.Generator().manual_seed(0)).float().cpu()
            return make_grid(samples, nrow=8, padding=2, pad_value=1.0)
        clean = next(iter(datamodule.val_dataloader()))[0][:12].to(model.device)
        corrupted = model.corrupt(clean) if callable(getattr(model, "corrupt", None)) else clean
        rows = [clean] if torch.equal(corrupted, clean) else [clean, corrupted]  # a denoiser shows its input
        rows.append(model(rows[-1]).float())
        return make_grid(torch.cat(rows).cpu(), nrow=len(clean), padding=2, pad_value=1.0)


def main(names: list[str]) -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    captions_path = IMAGES / "captions.json"
    captions = json.loads(captions_path.read_text()) if captions_path.exists() else {}
    for name in names or list(BUDGETS):
        flags = BUDGETS[name]
        data = [] if "--data" in flags else ["--data", "digits"]
        data_caption = DATA_WRITERS[name]() if name in DATA_WRITERS else None
        started = time.perf_counter()
        cli = run_cli(["fit", "--model", name, *data, *flags, "--trainer.default_root_dir", str(ROOT),
                       "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
                       "--fid.every_n_epochs", "0"])
        seconds = time.perf_counter() - started
        save_image(picture(cli.model, cli.datamodule), IMAGES / f"{name}.png")
        command = " ".join(["zoo fit --model", name, *data, *flags])
        on_data = f" on {data_caption}" if data_caption else ""
        captions[name] = f"Trained with `{command}`{on_data}; drawn by `scripts/doc_pictures.py`."
        captions_path.write_text(json.dumps(captions, indent=2, sort_keys=True) + "\n")
        print(f"{name}: {IMAGES / (name + '.png')} ({seconds:.0f} s)")


if __name__ == "__main__":
    main(sys.argv[1:])
