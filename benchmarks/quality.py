"""The zoo's results table on the embedded digits: trains each row, writes docs/benchmarks.md and registry.yaml.

    python benchmarks/quality.py                          # every row at its full budget (hours on 2 CPU cores)
    python benchmarks/quality.py --rows vae_likelihood    # some rows; results merge into benchmarks/quality.json
    python benchmarks/quality.py --rows gan_fid --gan-runs wgan   # one GAN run of the row, merged the same way
    python benchmarks/quality.py --write-only             # rewrite docs/benchmarks.md and registry.yaml from it
    python benchmarks/quality.py --quick                  # tiny budgets, a smoke run: numbers meaningless, no writes

Rows (each trained through ``zoo fit``'s own CLI code, in this process, from the config it names):

- ``one_class``: one-class anomaly detection, the protocol of Ruff et al. 2018 (Deep SVDD) as in
  ``benchmarks/one_class_digits.py``: for each digit k, fit on the training split's images of k
  (``--data.normal_classes [k]``), score the whole test split (500 digits) with the model's
  ``anomaly_score``; AUROC of "not k" against "k", per digit and the mean; for ``autoencoder``,
  ``denoising_autoencoder``, ``vae`` (score mse), a convolutional autoencoder, and the zoo's best
  configuration by these measurements (configs/one_class_digits.yaml).
- ``vae_likelihood``: the VAE on dynamically binarized digits (``--data.binarize dynamic``),
  early-stopped on validation ELBO (``--checkpoint.monitor val/elbo --checkpoint.mode max``); the
  best checkpoint's test ELBO and importance-weighted NLL (k = 500, Burda et al. 2016), in nats.
- ``super_resolution``: pix2pix x2 and x4 on digits (``--data super_resolution``), PSNR and SSIM
  over the validation split against bicubic upscaling of the same images.
- ``cyclegan_strokes``: ``cyclegan`` between thin digits (A) and the same kind of digits bold (B, a 3x3
  max-pool), unpaired (``zoo.data.digits.write_thin_and_bold_digits``);
  on the test folders: the ink share of each domain and of each translation, the identity's share beside
  it; A->B against each test A's true bold version (PSNR, SSIM) beside the identity; the cycles' PSNR.
- ``gan_fid``: FID and KID (``digits`` features) after every 500 of 2,000 generator steps of ``gan``,
  ``dcgan``, ``wgan`` and ``wgan_gp``, each from its shipped config (``GAN_CONFIGS``), and of a
  reference loop written here after the PyTorch examples' DCGAN (``pytorch/examples/dcgan/main.py``
  sized for 28x28: 256 and 128 generator channels at 7x7 and 14x14), same digits, batch size, sample
  count and features. ``--gan-runs wgan`` runs one of them, so two processes can share the row.

Every row records its training time. The published numbers beside the zoo's are full-MNIST
ones (60,000 training digits); the zoo's come from the 5,000 embedded digits (4,000 train).
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "quality.json"
PAGE = ROOT / "docs" / "benchmarks.md"
REGISTRY = ROOT / "registry.yaml"
PICTURES = ROOT / "docs" / "models" / "images"

# Deep SVDD, Ruff et al., ICML 2018, Table 1 (one-class MNIST, full training set), AUROC in %.
DEEP_SVDD = [98.0, 99.7, 91.7, 91.9, 94.9, 88.5, 98.3, 94.6, 93.9, 96.5]
# Published test NLL on binarized MNIST (nats), 60,000 training digits.
PUBLISHED_NLL = [
    ("VAE 784-200-200-50, trained on the ELBO, NLL by IW k = 5000 (Burda et al. 2016, Table 1)", 86.76),
    ("IWAE, the same network trained on the k = 50 bound (Burda et al. 2016, Table 1)", 84.78),
]
BEST = "configs/one_class_digits.yaml"
ONE_CLASS = {  # row name -> flags of its `zoo fit`
    "autoencoder": ["--model", "autoencoder", "--data", "digits"],
    "denoising_autoencoder": ["--model", "denoising_autoencoder", "--data", "digits"],
    "vae": ["--model", "vae", "--data", "digits", "--model.score", "mse"],
    "autoencoder conv, latent 16": ["--model", "autoencoder", "--data", "digits", "--model.architecture", "conv",
                                    "--model.latent_dim", "16"],
    BEST: ["--config", BEST],  # the best of the rows above, by measurement (the quality goal's config)
}
PICTURED = ("autoencoder", "denoising_autoencoder")  # one-class rows whose picture is their model page's
BUDGETS = {"one_class_epochs": 30, "vae_epochs": 300, "sr_steps": 600, "gan_steps": 2000, "gan_eval_every": 500,
           "cyclegan_steps": 600}
QUICK = {"one_class_epochs": 1, "vae_epochs": 2, "sr_steps": 5, "gan_steps": 4, "gan_eval_every": 2,
         "cyclegan_steps": 4}
FID_SAMPLES = 1000
KID_DECIMALS = 4  # KID of digits features: ~0.004 between the held-out splits, ~1.4 for uniform noise


def fit(argv: list[str], work: Path):
    """``zoo fit ARGV`` in this process (the CLI a user runs, without the start-up), quiet; returns the CLI."""
    from zoo.training.cli import run_cli

    return run_cli(["fit", *argv, "--trainer.default_root_dir", str(work), "--trainer.enable_progress_bar", "false",
                    "--trainer.enable_model_summary", "false", "--fid.every_n_epochs", "0"])


def command(argv: list[str]) -> str:
    return "zoo fit " + " ".join(argv)


# ---------------------------------------------------------------- one-class anomaly detection


def one_class(budget: dict, families: list[str], digits: list[int]) -> dict:
    from torchmetrics.functional.classification import binary_auroc

    rows = {}
    for family in families:
        flags = [*ONE_CLASS[family], "--trainer.max_epochs", str(budget["one_class_epochs"])]
        aurocs, started = {}, time.perf_counter()
        for digit in digits:
            with tempfile.TemporaryDirectory() as work:
                cli = fit([*flags, "--data.normal_classes", f"[{digit}]"], Path(work))
            model, datamodule = cli.model.eval(), cli.datamodule
            datamodule.setup("test")
            images, labels = (torch.cat(parts) for parts in zip(*datamodule.test_dataloader()))
            aurocs[digit] = float(binary_auroc(model.anomaly_score(images), (labels != digit).long()))
            print(f"one_class {family} digit {digit}: AUROC {aurocs[digit]:.4f}", file=sys.stderr, flush=True)
            if digit == digits[0] and family in PICTURED:
                save_reconstructions(model, images, labels, digit, family)
        rows[family] = {"command": command([*flags, "--data.normal_classes", "[K]"]),
                        "auroc": aurocs, "mean": sum(aurocs.values()) / len(aurocs),
                        "seconds": time.perf_counter() - started}
    return rows


def save_reconstructions(model, images: torch.Tensor, labels: torch.Tensor, digit: int, family: str) -> None:
    """The model page's picture: test digits (top) and reconstructions (bottom), normal ones first."""
    from torchvision.utils import make_grid, save_image

    order = torch.cat([(labels == digit).nonzero().flatten()[:6], (labels != digit).nonzero().flatten()[:6]])
    with torch.no_grad():
        grid = make_grid(torch.cat([images[order], model(images[order]).float()]), nrow=12, padding=2, pad_value=1.0)
    save_image(grid, PICTURES / f"{family}.png")


# ---------------------------------------------------------------- VAE likelihood on binarized digits


VAE_CONFIG = "configs/vae_binarized.yaml"


def vae_likelihood(budget: dict) -> dict:
    from zoo.models.vae import VAE

    flags = ["--config", VAE_CONFIG, "--trainer.max_epochs", str(budget["vae_epochs"])]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        cli = fit(flags, Path(work))
        seconds = time.perf_counter() - started
        best = cli.trainer.checkpoint_callback.best_model_path
        model = VAE.load_from_checkpoint(best, map_location="cpu").eval()
        best_epoch = int(re.search(r"epoch=(\d+)", best).group(1)) if "epoch=" in best else -1
        last_model = cli.model.eval()
    datamodule = cli.datamodule
    datamodule.setup("test")
    images = torch.cat([batch[0] for batch in datamodule.test_dataloader()])
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        elbo = float(model.log_likelihood(images, samples=1, generator=generator).mean())
        iw = float(model.log_likelihood(images, samples=500, generator=generator).mean())
        last_iw = float(last_model.log_likelihood(images, samples=500, generator=generator).mean())
    save_samples(model, "vae")
    return {"command": command(flags), "test_elbo": elbo, "test_iw_nll": -iw, "last_iw_nll": -last_iw,
            "best_epoch": best_epoch, "epochs": budget["vae_epochs"], "seconds": seconds}


def save_samples(model, name: str) -> None:
    from torchvision.utils import make_grid, save_image

    samples = model.sample(64, generator=torch.Generator().manual_seed(0)).float().cpu()
    save_image(make_grid(samples, nrow=8, padding=2, pad_value=1.0), PICTURES / f"{name}.png")


# ---------------------------------------------------------------- pix2pix super-resolution


def super_resolution(budget: dict, scales: list[int]) -> dict:
    from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

    rows = {}
    for scale in scales:
        flags = ["--config", "configs/super_resolution_digits.yaml", "--data.scale", str(scale),
                 "--trainer.max_steps", str(budget["sr_steps"]), "--trainer.max_epochs", "-1"]
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as work:
            cli = fit(flags, Path(work))
        seconds = time.perf_counter() - started
        model, datamodule = cli.model.eval(), cli.datamodule
        metrics = {name: (PeakSignalNoiseRatio(data_range=1.0), StructuralSimilarityIndexMeasure(data_range=1.0))
                   for name in ("bicubic", "pix2pix")}
        with torch.no_grad():
            for batch in datamodule.val_dataloader():
                for name, images in (("bicubic", batch["A"]), ("pix2pix", model.translate(batch["A"]))):
                    for metric in metrics[name]:
                        metric.update(images.float(), batch["B"])
            if scale == scales[0]:
                from torchvision.utils import save_image

                save_image(model.translation_grid(next(iter(datamodule.val_dataloader())), max_images=8).cpu(),
                           PICTURES / "pix2pix.png")
        rows[f"x{scale}"] = {"command": command(flags), "seconds": seconds,
                             **{f"{name}_{kind}": float(metric.compute())
                                for name, pair in metrics.items() for kind, metric in zip(("psnr", "ssim"), pair)}}
    return rows


# ---------------------------------------------------------------- CycleGAN between thin and bold digits


# One-channel 28x28 digits as they are (no resize, crop or flip), small networks.
CYCLEGAN_FLAGS = ["--model", "cyclegan", "--data", "unpaired", "--data.channels", "1", "--data.image_size", "28",
                  "--data.load_size", "28", "--data.flip", "false", "--data.batch_size", "8",
                  "--model.generator_channels", "32", "--model.discriminator_channels", "32"]
INK = 0.5  # a pixel brighter than this is stroke (the digits are white on black)


def stroke_share(images: torch.Tensor) -> float:
    """The fraction of pixels that are ink."""
    return float((images > INK).float().mean())


def cyclegan_strokes(budget: dict) -> dict:
    from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure
    from torchvision.utils import save_image

    from zoo.data.digits import write_thin_and_bold_digits

    flags = [*CYCLEGAN_FLAGS, "--trainer.max_steps", str(budget["cyclegan_steps"]), "--trainer.max_epochs", "-1"]
    with tempfile.TemporaryDirectory() as work:
        root = Path(work) / "thin_and_bold_digits"
        write_thin_and_bold_digits(root)
        started = time.perf_counter()
        cli = fit([*flags, "--data.root", str(root)], Path(work))
        seconds = time.perf_counter() - started
        model, datamodule = cli.model.eval(), cli.datamodule
        datamodule.setup("test")
        batches = list(datamodule.test_dataloader())  # read before the folder goes
    # The test set pairs each A with a B by a fixed permutation; the counts are equal, so each image comes once.
    thin = torch.cat([batch["A"] for batch in batches]).float()
    bold = torch.cat([batch["B"] for batch in batches]).float()
    # B is a deterministic function of A, so each test A has a true bold version to compare with (the PNGs
    # hold whole 1/255 steps, which a max-pool keeps).
    true_bold = torch.nn.functional.max_pool2d(thin, kernel_size=3, stride=1, padding=1)
    with torch.no_grad():
        thin_to_bold, bold_to_thin = model.translate(thin, "AtoB").float(), model.translate(bold, "BtoA").float()
        thin_cycled = model.translate(thin_to_bold, "BtoA").float()
        bold_cycled = model.translate(bold_to_thin, "AtoB").float()
        save_image(model.translation_grid(batches[0], max_images=8).cpu(), PICTURES / "cyclegan.png")

    def psnr(images: torch.Tensor, target: torch.Tensor) -> float:
        return float(peak_signal_noise_ratio(images, target, data_range=1.0))

    def ssim(images: torch.Tensor, target: torch.Tensor) -> float:
        return float(structural_similarity_index_measure(images, target, data_range=1.0))

    return {"command": command(flags + ["--data.root", "DIR"]), "seconds": seconds, "steps": budget["cyclegan_steps"],
            "test_images": {"A": len(thin), "B": len(bold)},
            "stroke_share": {"A": stroke_share(thin), "A_to_B": stroke_share(thin_to_bold),
                             "true_bold_of_A": stroke_share(true_bold), "B": stroke_share(bold),
                             "B_to_A": stroke_share(bold_to_thin)},
            "identity_psnr": psnr(thin, true_bold), "identity_ssim": ssim(thin, true_bold),
            "a_to_b_psnr": psnr(thin_to_bold, true_bold), "a_to_b_ssim": ssim(thin_to_bold, true_bold),
            "a_to_b_vs_a_psnr": psnr(thin_to_bold, thin),
            "cycle_a_psnr": psnr(thin_cycled, thin), "cycle_b_psnr": psnr(bold_cycled, bold)}


# ---------------------------------------------------------------- GANs, and a PyTorch-examples DCGAN loop


GAN_CONFIGS = {"gan": "configs/gan.yaml", "dcgan": "configs/dcgan_digits.yaml", "wgan": "configs/wgan.yaml",
               "wgan_gp": "configs/wgan_gp.yaml"}
MEASURES = ("fid", "kid", "kid_std")


def reference_dcgan(latent_dim: int = 100, ngf: int = 64, ndf: int = 64):
    """pytorch/examples/dcgan/main.py's networks for 1x28x28: 7x7 -> 14x14 -> 28x28 (ngf*4, ngf*2 channels)."""
    from torch import nn

    generator = nn.Sequential(
        nn.ConvTranspose2d(latent_dim, ngf * 4, 7, 1, 0, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 2, 1, 4, 2, 1, bias=False), nn.Tanh())
    discriminator = nn.Sequential(
        nn.Conv2d(1, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 2, 1, 7, 1, 0, bias=False), nn.Sigmoid())

    def weights_init(module):  # the example's own initialisation
        if "Conv" in type(module).__name__:
            nn.init.normal_(module.weight, 0.0, 0.02)
        elif "BatchNorm" in type(module).__name__:
            nn.init.normal_(module.weight, 1.0, 0.02)
            nn.init.zeros_(module.bias)

    generator.apply(weights_init)
    discriminator.apply(weights_init)
    return generator, discriminator


def train_reference_dcgan(steps: int, eval_every: int, real_images: torch.Tensor, batch_size: int = 64) -> dict:
    """The example's loop: D on a real then a fake batch (BCELoss), then G with real labels; Adam 2e-4, beta1 0.5."""
    from zoo.data.digits import digits_splits
    from zoo.metrics.fid import feature_distances

    torch.manual_seed(0)
    generator, discriminator = reference_dcgan()
    optimizer_d = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optimizer_g = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    criterion = torch.nn.BCELoss()
    loader = torch.utils.data.DataLoader(digits_splits()["train"], batch_size=batch_size, shuffle=True,
                                         drop_last=True)
    distances, step, started, trained = {}, 0, time.perf_counter(), 0.0
    while step < steps:
        for images, _ in loader:
            real = images * 2 - 1  # transforms.Normalize((0.5,), (0.5,))
            discriminator.zero_grad()
            d_real = criterion(discriminator(real).view(-1), torch.ones(len(real)))
            d_real.backward()
            fake = generator(torch.randn(len(real), 100, 1, 1))
            d_fake = criterion(discriminator(fake.detach()).view(-1), torch.zeros(len(real)))
            d_fake.backward()
            optimizer_d.step()
            generator.zero_grad()
            criterion(discriminator(fake).view(-1), torch.ones(len(real))).backward()
            optimizer_g.step()
            step += 1
            if step % eval_every == 0 or step == steps:
                trained += time.perf_counter() - started
                generator.eval()  # sampled like the zoo's: batch norm with its running statistics
                with torch.no_grad():
                    latents = torch.randn(FID_SAMPLES, 100, 1, 1, generator=torch.Generator().manual_seed(0))
                    fake_images = ((generator(latents) + 1) / 2).clamp(0, 1)
                generator.train()
                distances[step] = feature_distances(real_images, fake_images, feature="digits")
                print(f"reference dcgan step {step}: {distances[step]}", file=sys.stderr, flush=True)
                started = time.perf_counter()
            if step == steps:
                break
    return {"steps": steps, "seconds": trained, **by_measure(distances)}


def gan_fid(budget: dict, runs: list[str], work_root: str | None = None) -> dict:
    """Each run's FID and KID after every ``gan_eval_every`` generator steps up to ``gan_steps``, by run name."""
    real_images = fid_real_images()
    rows = {}
    for run in runs:
        if run == "reference":
            rows["reference"] = {"command": "python benchmarks/quality.py --rows gan_fid --gan-runs reference "
                                            "(the loop in this script)",
                                 **train_reference_dcgan(budget["gan_steps"], budget["gan_eval_every"], real_images)}
        else:
            rows.update(zoo_gan(run, budget, real_images, work_root))
    return rows


def zoo_gan(family: str, budget: dict, real_images: torch.Tensor, work_root: str | None) -> dict:
    """``zoo fit`` of a GAN family's shipped config, measured from its step checkpoints; draws its model page's
    picture. With a generator average (dcgan's config), also a row of the trained weights without it."""
    flags = ["--config", GAN_CONFIGS[family], "--trainer.max_steps", str(budget["gan_steps"]),
             "--trainer.max_epochs", "-1", "--trainer.limit_val_batches", "0",
             "--checkpoint.every_n_train_steps", str(budget["gan_eval_every"]), "--checkpoint.save_top_k", "-1"]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=work_root) as work:
        cli = fit(flags, Path(work))
        seconds = time.perf_counter() - started
        averaged, trained = checkpoint_distances(Path(work), type(cli.model), real_images)
    # The fitted model, as a user gets it, at the last step (the same weights as its last checkpoint).
    averaged[budget["gan_steps"]] = sample_distances(cli.model, real_images)
    save_samples(cli.model, family)
    # The command shows --config and --trainer.max_steps; the rest only sets up the measurement.
    row = {"command": command(flags[:4]), "steps": budget["gan_steps"], "seconds": seconds}
    rows = {family: {**row, **by_measure(averaged)}}
    if trained:  # the same checkpoints' trained weights (zoo.callbacks.GeneratorEMA keeps the average in front)
        rows[f"{family}, trained weights (no EMA)"] = {**row, "command": row["command"] + " (checkpoints' "
                                                                                       "current_model_state)",
                                                       **by_measure(trained)}
    return rows


def sample_distances(model, real_images: torch.Tensor) -> dict[str, float]:
    """FID and KID (``digits`` features) of the model's seeded samples against the held-out digits."""
    from zoo.metrics.fid import feature_distances

    with torch.no_grad():
        fake_images = model.sample(FID_SAMPLES, torch.Generator().manual_seed(0)).float().cpu()
    return feature_distances(real_images, fake_images, feature="digits")


def by_measure(by_step: dict[int, dict[str, float]]) -> dict[str, dict[int, float]]:
    """``{step: {"fid": .., "kid": ..}}`` -> ``{"fid": {step: ..}, "kid": {step: ..}}``, steps in order."""
    return {measure: {step: by_step[step][measure] for step in sorted(by_step)} for measure in MEASURES}


def checkpoint_distances(work: Path, model_class, real_images: torch.Tensor) -> tuple[dict, dict]:
    """FID and KID of each ``step=N`` checkpoint a GAN fit wrote under ``work``, by step; and, when the fit
    averaged the generator (``zoo.callbacks.GeneratorEMA``: the checkpoint holds the average), of its trained
    weights."""
    averaged, trained = {}, {}
    for path in work.glob("**/*step=*.ckpt"):
        step = int(re.search(r"step=(\d+)", path.name).group(1))
        model = model_class.load_from_checkpoint(path, map_location="cpu")
        averaged[step] = sample_distances(model, real_images)
        trained_state = torch.load(path, map_location="cpu", weights_only=False).get("current_model_state")
        if trained_state is not None:
            model.load_state_dict(trained_state)
            trained[step] = sample_distances(model, real_images)
    return averaged, trained


def fid_real_images() -> torch.Tensor:
    """The 1,000 held-out digits (validation and test splits) the FIDs compare with."""
    from zoo.data.digits import digits_splits

    splits = digits_splits()
    return torch.cat([splits["val"].tensors[0], splits["test"].tensors[0]])


# ---------------------------------------------------------------- the page and the registry


def machine() -> str:
    try:
        lines = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout.splitlines()
        info = {key.strip(): value.strip() for key, _, value in (line.partition(":") for line in lines)}
        return f"{info.get('Model name', platform.processor())}, {info.get('CPU(s)', '?')} CPU cores, no GPU"
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or platform.machine()


def reference_results(results: dict) -> dict[str, dict[str, float]]:
    """What registry.yaml records per model: the headline numbers of docs/benchmarks.md, rounded as shown there."""
    out: dict[str, dict[str, float]] = {}
    for family, row in results.get("one_class", {}).items():
        if family in ("autoencoder", "denoising_autoencoder", "vae"):
            out.setdefault(family, {})["one-class AUROC %, digits, mean of 10"] = round(100 * row["mean"], 1)
    if BEST in results.get("one_class", {}):
        out.setdefault("autoencoder", {})[f"one-class AUROC %, digits, mean of 10, {BEST}"] = \
            round(100 * results["one_class"][BEST]["mean"], 1)
    if "vae_likelihood" in results:
        row = results["vae_likelihood"]
        out.setdefault("vae", {}).update({"test NLL nats, binarized digits, IW k=500": round(row["test_iw_nll"], 2),
                                          "test negative ELBO nats, binarized digits": round(-row["test_elbo"], 2)})
    for scale, row in results.get("super_resolution", {}).items():
        out.setdefault("pix2pix", {}).update({
            f"super-resolution {scale} PSNR dB, digits": round(row["pix2pix_psnr"], 2),
            f"super-resolution {scale} SSIM, digits": round(row["pix2pix_ssim"], 3)})
    if "cyclegan_strokes" in results:
        row = results["cyclegan_strokes"]
        out.setdefault("cyclegan", {}).update({
            "A→B PSNR dB vs true bold, thin/bold digits": round(row["a_to_b_psnr"], 2),
            "A→B SSIM vs true bold, thin/bold digits": round(row["a_to_b_ssim"], 3),
            "cycle A→B→A PSNR dB, thin/bold digits": round(row["cycle_a_psnr"], 2)})
    for family in GAN_CONFIGS:  # FID and KID after the most generator steps measured
        row = results.get("gan_fid", {}).get(family)
        if row:
            step = max(row["fid"], key=int)
            out.setdefault(family, {})[f"FID digits features, {step} generator steps"] = round(row["fid"][step], 2)
            if step in row.get("kid", {}):
                out[family][f"KID digits features, {step} generator steps"] = round(row["kid"][step], KID_DECIMALS)
    return out


def goals(results: dict) -> list[str]:
    """The quality goals of issue 13, each with its measured value and whether it is reached."""
    rows = []
    one_class = results.get("one_class", {})
    if one_class:
        name, row = max(one_class.items(), key=lambda item: item[1]["mean"])
        rows.append(("one-class mean AUROC on digits, best reconstruction setting", ">= 96.0",
                     f"{100 * row['mean']:.1f} (`{name}`)", 100 * row["mean"] >= 96.0))
    if "vae_likelihood" in results:
        nll = results["vae_likelihood"]["test_iw_nll"]
        rows.append(("VAE test NLL (IW, k = 500) on binarized digits", "<= 93 nats", f"{nll:.2f}", nll <= 93.0))
    gans = results.get("gan_fid", {})
    if "dcgan" in gans and "reference" in gans:
        step = max(set(gans["dcgan"]["fid"]) & set(gans["reference"]["fid"]), key=int)
        ratio = gans["dcgan"]["fid"][step] / gans["reference"]["fid"][step]
        rows.append((f"dcgan FID / reference loop's FID, {step} generator steps", "<= 0.80", f"{ratio:.2f}",
                     ratio <= 0.8))
    if not rows:
        return []
    lines = ["## Quality goals", "", "| goal | target | measured | reached |", "|---|---|---|---|"]
    lines += [f"| {goal} | {target} | {value} | {'yes' if reached else '**no**'} |"
              for goal, target, value, reached in rows]
    notes = results.get("goal_notes", [])
    return lines + [""] + [f"- {note}" for note in notes] + ([""] if notes else [])


def page(results: dict) -> str:
    meta = results["meta"]
    lines = [
        "# Benchmarks: the results table",
        "",
        "<!-- written by `python benchmarks/quality.py` from benchmarks/quality.json; edit those, not this page -->",
        "",
        f"Measured on this project's machine: **{meta['machine']}**, {meta['date']} (UTC), "
        f"torch {meta['torch']}. The machine was shared with other jobs, so times are upper bounds.",
        "The zoo's numbers come from the 5,000 embedded `digits` (4,000 train, 500 validation, 500",
        "test); published numbers beside them are **full-MNIST** ones (60,000 training digits), shown",
        "for scale, not as a like-for-like comparison. Reproduce a row with",
        "`python benchmarks/quality.py --rows NAME`; each table gives the `zoo fit` command it trained.",
        "",
    ]
    if "one_class" in results:
        rows = results["one_class"]
        digits = sorted({int(digit) for row in rows.values() for digit in row["auroc"]})
        lines += ["## One-class anomaly detection (AUROC %)", "",
                  "For each digit k: fit on the training split's k's only (`--data.normal_classes [k]`), then",
                  "rank the whole test split (all ten digits) by the model's `anomaly_score`; AUROC of the",
                  "other nine digits against k (Ruff et al. 2018's protocol, as `zoo score --normal-class k`).", "",
                  "| model | " + " | ".join(str(digit) for digit in digits) + " | mean | train time |",
                  "|---" * (len(digits) + 3) + "|"]
        for family, row in rows.items():
            values = " | ".join(f"{100 * row['auroc'][str(digit)]:.1f}" for digit in digits)
            lines.append(f"| `{family}` | {values} | **{100 * row['mean']:.1f}** | {row['seconds']:.0f} s |")
        svdd = " | ".join(f"{DEEP_SVDD[digit]:.1f}" for digit in digits)
        lines += [f"| Deep SVDD, full MNIST (Ruff et al., ICML 2018) | {svdd} | "
                  f"{sum(DEEP_SVDD[d] for d in digits) / len(digits):.1f} | |", "",
                  "Commands (K = the normal digit):", ""]
        lines += [f"- `{family}`: `{row['command']}`" for family, row in rows.items()]
        lines.append("")
    if "vae_likelihood" in results:
        row = results["vae_likelihood"]
        lines += ["## VAE likelihood on binarized digits (nats, lower is better)", "",
                  "Dynamic binarization (`--data.binarize dynamic`: training pixels drawn from Bernoulli(grey)",
                  "every epoch, validation and test drawn once, seeded); early stopping on validation ELBO",
                  "(`--checkpoint.monitor val/elbo --checkpoint.mode max`), the best checkpoint evaluated on",
                  "the 500 test digits with `VAE.log_likelihood` (Burda et al. 2016's importance-weighted",
                  "bound; k = 1 is the ELBO).", "",
                  "| model | test −ELBO | test NLL (IW, k = 500) | train time |", "|---|---|---|---|",
                  f"| `vae`, best checkpoint (epoch {row['best_epoch']} of {row['epochs']}) | "
                  f"{-row['test_elbo']:.2f} | "
                  f"**{row['test_iw_nll']:.2f}** | {row['seconds']:.0f} s |",
                  f"| `vae`, last checkpoint (epoch {row['epochs']}) | | {row['last_iw_nll']:.2f} | |"]
        lines += [f"| {name}, full MNIST | | {value:.2f} | |" for name, value in PUBLISHED_NLL]
        lines += ["", f"Command: `{row['command']}`", ""]
    if "super_resolution" in results:
        lines += ["## pix2pix super-resolution (validation split, 500 digits)", "",
                  "A is each digit downscaled by the factor and upscaled back with bicubic interpolation, so",
                  "bicubic's numbers are A against the original B; pix2pix's are `translate(A)` against B",
                  "(torchmetrics PSNR and SSIM, data range 1).", "",
                  "| scale | bicubic PSNR (dB) | pix2pix PSNR (dB) | bicubic SSIM | pix2pix SSIM | train time |",
                  "|---|---|---|---|---|---|"]
        for scale, row in results["super_resolution"].items():
            lines.append(f"| {scale} | {row['bicubic_psnr']:.2f} | **{row['pix2pix_psnr']:.2f}** | "
                         f"{row['bicubic_ssim']:.3f} | **{row['pix2pix_ssim']:.3f}** | {row['seconds']:.0f} s |")
        lines += [""] + [f"- {scale}: `{row['command']}`" for scale, row in results["super_resolution"].items()]
        lines.append("")
    if "cyclegan_strokes" in results:
        row = results["cyclegan_strokes"]
        share = {name: 100 * value for name, value in row["stroke_share"].items()}
        lines += ["## CycleGAN between thin and bold digits (test folders)", "",
                  "Two unpaired domains written by `zoo.data.digits.write_thin_and_bold_digits`: A, digits as",
                  "written; B, digits thickened by a 3x3 max-pool; from disjoint halves of each split (the",
                  f"test folders: {row['test_images']['A']} A and {row['test_images']['B']} B from the validation "
                  "split). The stroke share is the percentage of",
                  f"pixels that are ink (> {INK}); a translation should carry it from its domain's to the other's.",
                  "The baseline does nothing (the identity: the image itself). B is a function of A, so each test",
                  "A has its true bold version `max_pool2d(A, 3, stride 1, padding 1)`: A→B is compared with it",
                  "(torchmetrics PSNR and SSIM, data range 1).", "",
                  "| stroke share % | A | A→B | B | B→A |", "|---|---|---|---|---|",
                  f"| cyclegan, {row['steps']} steps | {share['A']:.1f} | **{share['A_to_B']:.1f}** | "
                  f"{share['B']:.1f} | **{share['B_to_A']:.1f}** |",
                  f"| identity | {share['A']:.1f} | {share['A']:.1f} | {share['B']:.1f} | {share['B']:.1f} |",
                  f"| target | | {share['true_bold_of_A']:.1f} (true bold of test A) | | "
                  f"{share['A']:.1f} (test A) |", "",
                  "| A→B against the true bold | PSNR (dB) | SSIM | train time |", "|---|---|---|---|",
                  f"| identity (A itself) | {row['identity_psnr']:.2f} | {row['identity_ssim']:.3f} | |",
                  f"| cyclegan, {row['steps']} steps | **{row['a_to_b_psnr']:.2f}** | **{row['a_to_b_ssim']:.3f}** | "
                  f"{row['seconds']:.0f} s |", "",
                  f"Cycle: A→B→A against A **{row['cycle_a_psnr']:.2f}** dB, B→A→B against B "
                  f"{row['cycle_b_psnr']:.2f} dB (the identity gives infinity; for scale, A→B against A itself "
                  f"is {row['a_to_b_vs_a_psnr']:.2f} dB, the way out).", "",
                  f"Command (DIR = the folder written first): `{row['command']}`", ""]
    if "gan_fid" in results:
        order = [*GAN_CONFIGS, "reference"]  # a family's variant rows ("dcgan, trained weights") after it
        rows = dict(sorted(results["gan_fid"].items(), key=lambda item: (order.index(item[0].split(",")[0]), item[0])))
        steps = sorted({int(step) for row in rows.values() for step in row["fid"]})
        lines += ["## GANs after N generator steps (FID and KID, lower is better)", "",
                  f"FID and KID with the shipped `digits` features of {FID_SAMPLES} samples (seeded latents, batch",
                  "norm in eval mode) against the 1,000 held-out digits (validation and test splits), after N",
                  "generator steps of batch 64 on the 4,000 training digits (`wgan` and `wgan_gp` read 5 critic",
                  "batches per generator step). Each family trains from its shipped config through `zoo fit`",
                  "and is measured from the fit's step checkpoints. KID: the unbiased polynomial-kernel MMD,",
                  "mean ± std over 100 subsets of 100 images. The reference is `pytorch/examples/dcgan/main.py`",
                  "sized for 28x28, written out in `benchmarks/quality.py`. Steps: the budget each run trained.", "",
                  "| run | " + " | ".join(f"FID {step} | KID {step}" for step in steps) + " | steps | train time |",
                  "|---" * (2 * len(steps) + 3) + "|"]
        for name, row in rows.items():
            cells = []
            for step in map(str, steps):
                cells.append(f"{row['fid'][step]:.2f}" if step in row["fid"] else "")
                kid = row.get("kid", {})
                cells.append(f"{kid[step]:.{KID_DECIMALS}f} ± {row['kid_std'][step]:.{KID_DECIMALS}f}"
                             if step in kid else "")
            budget = row.get("steps", max(map(int, row["fid"])))
            lines.append(f"| {name} | {' | '.join(cells)} | {budget} | {row['seconds']:.0f} s |")
        if "dcgan" in rows and "reference" in rows:
            common = max(set(rows["dcgan"]["fid"]) & set(rows["reference"]["fid"]), key=int)
            ratio = rows["dcgan"]["fid"][common] / rows["reference"]["fid"][common]
            lines += ["", f"dcgan / reference FID after {common} steps: **{ratio:.2f}**."]
        lines += [""] + [f"- {name}: `{row['command']}`" for name, row in rows.items()] + [""]
    lines += goals(results)
    lines += ["## Reference results in registry.yaml", "",
              "`zoo info NAME` shows these; a test checks that they match this page.", "",
              "| model | measure | value |", "|---|---|---|"]
    for model, values in reference_results(results).items():
        lines += [f"| `{model}` | {measure} | {value} |" for measure, value in values.items()]
    return "\n".join(lines) + "\n"


def write_captions(results: dict) -> None:
    """The model pages' captions (docs/models/images/captions.json) for the pictures the rows drew."""
    path = PICTURES / "captions.json"
    captions = json.loads(path.read_text())
    source = "drawn by `benchmarks/quality.py` in the results-table run"
    for family in PICTURED:
        if family in results.get("one_class", {}):
            row = results["one_class"][family]
            digit = min(row["auroc"], key=int)
            captions[family] = (f"The one-class `{family}` of the results table, trained on the {digit}s only "
                                f"(`{row['command'].replace('[K]', f'[{digit}]')}`): six test {digit}s and six other "
                                "test digits (top) and their reconstructions (bottom); the others come back looking "
                                f"like {digit}s, which is what the anomaly score measures; {source}.")
    if "vae_likelihood" in results:
        row = results["vae_likelihood"]
        captions["vae"] = (f"Samples from the prior of the results table's VAE on binarized digits, best checkpoint "
                           f"by validation ELBO (epoch {row['best_epoch']}; `{row['command']}`), drawn as Bernoulli "
                           f"means; {source}.")
    for family in GAN_CONFIGS:
        row = results.get("gan_fid", {}).get(family)
        if row:
            step = max(row["fid"], key=int)
            kid = f", KID {row['kid'][step]:.{KID_DECIMALS}f}" if step in row.get("kid", {}) else ""
            captions[family] = (f"Samples after {step} generator steps (`{row['command']}`): FID {row['fid'][step]:.2f}"
                                f"{kid} on the `digits` features (docs/benchmarks.md); {source}.")
    if "cyclegan_strokes" in results:
        row = results["cyclegan_strokes"]
        captions["cyclegan"] = (f"The results table's thin/bold digits after {row['steps']} steps "
                                f"(`{row['command']}`, DIR written by `zoo.data.digits.write_thin_and_bold_digits`): "
                                "each row is a test A, A→B, back to A, a test B, B→A, back to B; unpaired, so the "
                                f"model never saw a thin digit beside its bold version; {source}.")
    if "super_resolution" in results:
        scale, row = next(iter(results["super_resolution"].items()))
        captions["pix2pix"] = (f"Super-resolution {scale} on validation digits (`{row['command']}`): each row is "
                               f"the bicubic input A, pix2pix's output and the original B; {source}.")
    path.write_text(json.dumps(captions, indent=2, sort_keys=True) + "\n")


def write_registry(results: dict) -> None:
    """Set each model's ``reference_results`` line in registry.yaml (one JSON line, valid YAML), keeping the rest."""
    text = REGISTRY.read_text()
    for model, values in reference_results(results).items():
        line = f"    reference_results: {json.dumps(values, ensure_ascii=False)}"
        block = re.search(rf"^  {model}:\n((?:    .*\n)+)", text, flags=re.M)
        body = re.sub(r"^    reference_results: .*\n", "", block.group(1), flags=re.M)
        text = text[: block.start(1)] + body + line + "\n" + text[block.end(1):]
    REGISTRY.write_text(text)


def read_results() -> dict:
    """benchmarks/quality.json as the rows last measured left it."""
    return json.loads(RESULTS.read_text()) if RESULTS.exists() else {}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", nargs="+",
                        default=["one_class", "vae_likelihood", "super_resolution", "cyclegan_strokes", "gan_fid"])
    parser.add_argument("--families", nargs="+", default=list(ONE_CLASS), help="one_class rows (names of ONE_CLASS)")
    parser.add_argument("--digits", nargs="+", type=int, default=list(range(10)))
    parser.add_argument("--scales", nargs="+", type=int, default=[2, 4])
    parser.add_argument("--gan-runs", nargs="+", default=[*GAN_CONFIGS, "reference"],
                        choices=[*GAN_CONFIGS, "reference"], help="gan_fid's runs: GAN families and the reference loop")
    parser.add_argument("--work", help="folder for the runs' temporary folders (default: the system's)")
    parser.add_argument("--quick", action="store_true", help="tiny budgets; writes nothing")
    parser.add_argument("--write-only", action="store_true", help="rewrite the page and registry from quality.json")
    for key, value in BUDGETS.items():
        parser.add_argument(f"--{key.replace('_', '-')}", type=int, default=value)
    args = parser.parse_args(argv)
    budget = QUICK if args.quick else {key: getattr(args, key) for key in BUDGETS}
    if args.quick:  # a smoke run's pictures are as meaningless as its numbers: not over the model pages' ones
        global PICTURES
        PICTURES = Path(tempfile.mkdtemp(prefix="quality-quick-"))
    results = read_results()
    if not args.write_only:
        runners = {"one_class": lambda: one_class(budget, args.families, args.digits),
                   "vae_likelihood": lambda: vae_likelihood(budget),
                   "super_resolution": lambda: super_resolution(budget, args.scales),
                   "cyclegan_strokes": lambda: cyclegan_strokes(budget),
                   "gan_fid": lambda: gan_fid(budget, args.gan_runs, args.work)}
        for row in args.rows:
            measured = json.loads(json.dumps(runners[row]()))  # JSON's string keys, as read back
            print(json.dumps({row: measured}, indent=1))
            if args.quick:
                continue
            results = read_results()  # rows may run concurrently
            results[row] = {**results.get(row, {}), **measured} if isinstance(measured, dict) else measured
            results["meta"] = {"machine": machine(), "torch": torch.__version__,
                               "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")}
            RESULTS.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    if not args.quick and results:
        PAGE.write_text(page(results))
        write_registry(results)
        write_captions(results)
        print(f"wrote {PAGE.relative_to(ROOT)} and {REGISTRY.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
