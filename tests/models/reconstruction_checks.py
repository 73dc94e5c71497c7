"""What every reconstruction family must do for its user, run against each one."""

from __future__ import annotations

import lightning as L
import torch

from zoo.data.digits import DigitsDataModule


def fit_briefly(model: L.LightningModule, steps: int = 40) -> tuple[float, float]:
    """Train on the embedded digits; return the validation loss before and after."""
    data = DigitsDataModule(batch_size=64)
    trainer = L.Trainer(max_steps=steps, limit_val_batches=2, enable_progress_bar=False, enable_model_summary=False,
                        logger=False, enable_checkpointing=False, num_sanity_val_steps=0, accelerator="cpu")
    before = trainer.validate(model, datamodule=data, verbose=False)[0]["val/loss"]
    trainer.fit(model, datamodule=data)
    after = trainer.validate(model, datamodule=data, verbose=False)[0]["val/loss"]
    return before, after


def check_reconstruction_family(model: L.LightningModule) -> None:
    before, after = fit_briefly(model)
    assert after < 0.8 * before, f"validation loss did not fall: {before:.4f} -> {after:.4f}"

    model.eval()
    data = DigitsDataModule(batch_size=32)
    data.setup()
    clean = next(iter(data.val_dataloader()))[0]
    latents = model.encode(clean)
    assert latents.shape == (32, model.latent_dim)
    decoded = model.decode(latents)
    assert decoded.shape == clean.shape
    assert decoded.min() >= 0 and decoded.max() <= 1

    # Anomalies: the same digits under heavy noise, and pure noise, must score higher on average.
    generator = torch.Generator().manual_seed(0)
    noisy = (clean + 0.5 * torch.randn(clean.shape, generator=generator)).clamp(0, 1)
    noise = torch.rand(clean.shape, generator=generator)
    clean_scores = model.anomaly_score(clean)
    assert clean_scores.shape == (32,)
    assert model.anomaly_score(noisy).mean() > clean_scores.mean()
    assert model.anomaly_score(noise).mean() > clean_scores.mean()
