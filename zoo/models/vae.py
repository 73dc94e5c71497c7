"""Variational autoencoder: a Gaussian latent space you can sample from.

Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014 (arXiv:1312.6114);
beta weighting from Higgins et al., "beta-VAE", ICLR 2017. Gaussian encoder
q(z|x) = N(mu, sigma^2) with the reparameterization trick, Bernoulli decoder
p(x|z) on pixels in [0, 1], loss = negative ELBO = reconstruction + beta * KL.

Conditional (``conditional=True``, num_classes linked from the data): Sohn, Lee & Yan, "Learning
Structured Output Representation using Deep Conditional Generative Models", NeurIPS 2015 -- the
one-hot label is appended to the encoder's input features and to the latent the decoder reads,
so q(z|x, y) and p(x|z, y); ``sample(n, labels=...)`` draws images of chosen classes.

Uses: image generation (``sample``), latent features (``encode`` returns the mean),
anomaly detection (``anomaly_score`` = negative ELBO, in nats per image), and the model's
likelihood of images (``log_likelihood``: the importance-weighted bound of Burda, Grosse &
Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016, with k = 5000 their
evaluation; on binarized images, see the datamodules' ``binarize``).

Three training options for density modelling (all off by default, so the plain VAE is unchanged):
``kl_warmup_epochs`` scales the KL term linearly from 0 to ``beta`` over the first epochs (Sønderby
et al., "Ladder Variational Autoencoders", NeurIPS 2016; Bowman et al. 2016), and ``train_samples``
k > 1 trains on the importance-weighted bound itself, the IWAE of Burda et al., which
``log_likelihood`` measures; ``lr_decay`` < 1 shrinks the learning rate every epoch.
"""

from __future__ import annotations

import math
from typing import Literal

import lightning as L
import torch
import torch.nn.functional as F

from zoo.conditioning import (
    batch_labels,
    conditional_classes,
    example_input,
    load_class_names,
    network_labels,
    one_hot,
    sample_labels,
    save_class_names,
)
from zoo.errors import ZooError, check_non_negative, check_positive
from zoo.metrics.means import EvaluationMeans
from zoo.metrics.reconstruction import ReconstructionMetrics
from zoo.nn.autoencoding import Architecture, build_decoder, build_encoder

DEFAULT_HIDDEN = {"dense": [512, 256], "conv": [32, 64]}


class VAE(L.LightningModule):
    """Variational autoencoder with a standard-normal prior and a ``beta``-weighted KL term."""

    task = "reconstruction"
    batch_kind = "images"

    def __init__(
        self,
        image_shape: tuple[int, int, int] = (1, 28, 28),
        latent_dim: int = 16,
        hidden_dims: list[int] | None = None,
        architecture: Architecture = "dense",
        beta: float = 1.0,
        lr: float = 1e-3,
        score: Literal["elbo", "mse", "bce"] = "elbo",
        conditional: bool = False,
        num_classes: int = 0,
        kl_warmup_epochs: int = 0,
        train_samples: int = 1,
        lr_decay: float = 1.0,
    ) -> None:
        """
        Args:
            image_shape: (channels, height, width) of the images; the CLI links it from the data.
            latent_dim: dimension of the latent Gaussian.
            hidden_dims: hidden widths (dense, default [512, 256]) or conv channels (default [32, 64]).
            architecture: "dense" or "conv".
            beta: weight of the KL term (1 = the true ELBO; >1 = beta-VAE, more disentangled, blurrier).
            lr: Adam learning rate.
            score: what ``anomaly_score`` measures: "elbo" (negative ELBO, nats per image), "mse" (mean
                squared error of the reconstruction at the posterior mean) or "bce" (its reconstruction
                term alone); see docs/uses/anomaly_detection.md for which ranks digits better.
            conditional: condition encoder and decoder on the class label (Sohn et al. 2015); needs labelled data.
            num_classes: how many classes; the CLI links it from the data (used only when conditional).
            kl_warmup_epochs: KL warm-up: the KL weight grows linearly from 0 at epoch 0 to ``beta`` at this
                epoch (Sønderby et al. 2016); 0 = ``beta`` from the start. Keeps latent units from collapsing to
                the prior early on; validation's ``val/elbo`` is always the true ELBO.
            train_samples: k, the draws of q(z|x) per image in training: 1 = the ELBO (the plain VAE); k > 1 =
                the importance-weighted bound of Burda et al. 2016 (the IWAE), tighter, so the model is
                trained on what ``log_likelihood`` measures; costs k decoder passes per image.
            lr_decay: the learning rate is multiplied by this after every epoch (torch's ExponentialLR), so it
                settles where a constant rate keeps jumping around; 1 = constant, e.g. 0.99235 = a tenth after
                300 epochs.
        """
        check_positive(image_shape=image_shape, latent_dim=latent_dim, hidden_dims=hidden_dims, lr=lr,
                       train_samples=train_samples)
        check_non_negative(beta=beta, kl_warmup_epochs=kl_warmup_epochs)
        if not 0.0 < lr_decay <= 1.0:
            raise ZooError(f"lr_decay must be in (0, 1] (the learning rate's factor per epoch; 1 = constant), "
                           f"got {lr_decay!r}")
        super().__init__()
        self.save_hyperparameters()
        hidden = DEFAULT_HIDDEN[architecture] if hidden_dims is None else list(hidden_dims)
        self.image_shape = tuple(image_shape)
        self.latent_dim = latent_dim
        classes = conditional_classes("vae", conditional, num_classes)
        if classes:
            self.num_classes = classes  # the ConditionalGeneration interface; absent on an unconditional VAE
        self.encoder = build_encoder(architecture, self.image_shape, hidden, 2 * latent_dim, classes)
        self.decoder = build_decoder(architecture, self.image_shape, hidden, latent_dim + classes)
        self.example_input_array = example_input(self, self.image_shape)
        self.metrics = ReconstructionMetrics()
        self.eval_means = EvaluationMeans("loss", "kl", "elbo", prog_bar=("loss",))

    @property
    def conditional(self) -> bool:
        return hasattr(self, "num_classes")

    def _condition(self, labels: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
        """The encoder's and decoder's extra input: the one-hot label when conditional, nothing otherwise."""
        return tuple(one_hot(given, self.num_classes) for given in network_labels(self, labels))

    def posterior(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of q(z|x) (q(z|x, y) when conditional)."""
        encoded = self.encoder(images, *self._condition(labels))
        # In float32 at least (float64 stays float64 under 64-true): exp() of a half log-variance overflows.
        mean, log_var = encoded.to(torch.promote_types(encoded.dtype, torch.float32)).chunk(2, dim=1)
        # Clamped so exp() cannot overflow early in training or under reduced precision.
        return mean, log_var.clamp(-30.0, 20.0)

    def elbo_terms(self, images: torch.Tensor, sample_latent: bool = True, labels: torch.Tensor | None = None):
        """Per-image reconstruction NLL and KL (nats), and the decoder's logits."""
        mean, log_var = self.posterior(images, labels)
        latents = mean + torch.randn_like(mean) * (0.5 * log_var).exp() if sample_latent else mean
        logits = self.decoder(self._with_label(latents, labels))
        reconstruction = F.binary_cross_entropy_with_logits(logits.float(), images.float(), reduction="none")
        reconstruction = reconstruction.flatten(1).sum(1)
        kl = 0.5 * (mean.pow(2) + log_var.exp() - 1.0 - log_var).sum(1)
        return reconstruction, kl, logits

    def _with_label(self, latents: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """The decoder's input, in its weights' dtype (half under 16-true, float64 under 64-true; float32 under
        mixed precision, where autocast casts inside): the latents, and the one-hot label when conditional."""
        condition = self._condition(labels)
        inputs = torch.cat([latents, condition[0].to(latents.dtype)], dim=1) if condition else latents
        return inputs.to(next(self.decoder.parameters()).dtype)

    # -- task interfaces: reconstruction and generation
    def encode(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The posterior mean, shape (N, latent_dim): the usual latent features (a conditional VAE needs labels)."""
        return self.posterior(images, labels)[0]

    def decode(self, latents: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Images in [0, 1] (the Bernoulli means), shape (N, *image_shape) (a conditional VAE needs labels)."""
        return torch.sigmoid(self.decoder(self._with_label(latents, labels)))

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.decode(self.encode(images, labels), labels)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None,
               labels: torch.Tensor | None = None) -> torch.Tensor:
        """``n`` images decoded from the prior N(0, I); pass a seeded CPU ``generator`` to repeat them.

        Conditional: ``labels`` (n,) picks each image's class; None draws them uniformly (from ``generator``).
        """
        latents = torch.randn(n, self.latent_dim, generator=generator).to(self.device)
        return self.decode(latents, sample_labels(self, n, labels, generator)).float()

    @torch.no_grad()
    def anomaly_score(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Per image, at the posterior mean so the score is deterministic: negative ELBO (nats), or per ``score``.

        Conditional without ``labels``: the class is marginalised, -log sum_y p(y) exp(ELBO(x, y)) with a
        uniform p(y) for "elbo", the best-fitting class for "mse" and "bce".
        """
        if self.conditional and labels is None:
            per_class = torch.stack([
                self.anomaly_score(images, torch.full((len(images),), label, device=images.device, dtype=torch.long))
                for label in range(self.num_classes)
            ], dim=1)
            if self.hparams.get("score", "elbo") == "elbo":
                return math.log(self.num_classes) - torch.logsumexp(-per_class, dim=1)
            return per_class.min(dim=1).values
        reconstruction, kl, logits = self.elbo_terms(images, sample_latent=False, labels=labels)
        score = self.hparams.get("score", "elbo")
        if score == "mse":
            return (torch.sigmoid(logits.float()) - images.float()).pow(2).flatten(1).mean(1)
        return reconstruction if score == "bce" else reconstruction + kl

    @torch.no_grad()
    def log_likelihood(self, images: torch.Tensor, samples: int = 500, chunk: int = 100,
                       generator: torch.Generator | None = None) -> torch.Tensor:
        """log p(x) per image in nats, shape (N,): the importance-weighted estimate with ``samples`` draws of q(z|x).

        ``log mean_k p(x|z_k) p(z_k) / q(z_k|x)`` (Burda et al. 2016): a lower bound that tightens
        as ``samples`` grows (``samples=1`` is the ELBO), so ``-log_likelihood(x).mean()`` is the
        test NLL papers report. Meaningful for binary pixels (the decoder is Bernoulli). Draws are
        made ``chunk`` at a time; a seeded CPU ``generator`` repeats them.
        """
        mean, log_var = self.posterior(images)
        log_weights = []
        for start in range(0, samples, chunk):
            noise = torch.randn(min(chunk, samples - start), *mean.shape, generator=generator).to(mean.device)
            log_p_x, log_prior_ratio = self._importance_terms(images, mean, log_var, noise)
            log_weights.append(log_p_x + log_prior_ratio)
        return torch.logsumexp(torch.cat(log_weights), dim=0) - math.log(samples)

    def _importance_terms(self, images: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor,
                          noise: torch.Tensor, labels: torch.Tensor | None = None):
        """log p(x|z_k) and log p(z_k) - log q(z_k|x), each (draws, N), for z_k = mean + noise[k] * std."""
        draws = len(noise)
        latents = mean + noise * (0.5 * log_var).exp()  # (draws, N, latent_dim)
        repeated_labels = None if labels is None else labels.repeat(draws)
        logits = self.decoder(self._with_label(latents.flatten(0, 1), repeated_labels))
        logits = logits.float().flatten(1).view(draws, len(images), -1)
        targets = images.float().flatten(1).expand_as(logits)
        log_p_x = -F.binary_cross_entropy_with_logits(logits, targets, reduction="none").sum(2)
        # log N(z; 0, I) - log N(z; mean, std): the 0.5 log(2 pi) terms cancel.
        log_prior_ratio = -0.5 * (latents.pow(2) - noise.pow(2) - log_var).sum(2)
        return log_p_x, log_prior_ratio

    # -- training
    def kl_weight(self, epoch: int) -> float:
        """The KL term's weight in training at ``epoch``: ``beta``, ramped up linearly over ``kl_warmup_epochs``."""
        warmup = self.hparams.get("kl_warmup_epochs", 0)
        return self.hparams.beta * (min(1.0, epoch / warmup) if warmup else 1.0)

    def _iwae_loss(self, images: torch.Tensor, labels: torch.Tensor | None, kl_weight: float) -> torch.Tensor:
        """Minus the importance-weighted bound with ``train_samples`` draws per image (Burda et al. 2016), mean.

        The KL weight scales log p(z) - log q(z|x) inside each weight, as in warm-up for IWAEs (Sønderby et al.).
        """
        mean, log_var = self.posterior(images, labels)
        noise = torch.randn(self.hparams.train_samples, *mean.shape, device=mean.device)
        log_p_x, log_prior_ratio = self._importance_terms(images, mean, log_var, noise, labels)
        bound = torch.logsumexp(log_p_x + kl_weight * log_prior_ratio, dim=0) - math.log(len(noise))
        return -bound.mean()

    def _step(self, batch, stage: str) -> torch.Tensor:
        images = batch[0]
        labels = batch_labels(batch, self.num_classes) if self.conditional else None
        if stage == "train":
            kl_weight = self.kl_weight(self.current_epoch)
            if self.hparams.get("train_samples", 1) > 1:
                loss = self._iwae_loss(images, labels, kl_weight)
            else:
                reconstruction, kl, logits = self.elbo_terms(images, labels=labels)
                loss = (reconstruction + kl_weight * kl).mean()
                self.log("train/kl", kl.mean(), on_step=True, on_epoch=True)
            self.log("train/loss", loss, on_step=True, on_epoch=True)
        else:
            reconstruction, kl, logits = self.elbo_terms(images, labels=labels)
            loss = (reconstruction + self.hparams.beta * kl).mean()
            self.eval_means.log(self, stage, len(images), loss=loss, kl=kl.mean(), elbo=-(reconstruction + kl).mean())
            self.metrics.update_and_log(self, stage, torch.sigmoid(logits), images)
        return loss

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch, batch_idx: int) -> None:
        self._step(batch, "test")

    def predict_step(self, batch, batch_idx: int) -> torch.Tensor:
        return self.encode(batch[0], batch_labels(batch, self.num_classes) if self.conditional else None)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        save_class_names(self, checkpoint)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        load_class_names(self, checkpoint)

    def configure_optimizers(self):
        optimizer = torch.optim.Adam(self.parameters(), lr=self.hparams.lr)
        lr_decay = self.hparams.get("lr_decay", 1.0)
        if lr_decay == 1.0:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": torch.optim.lr_scheduler.ExponentialLR(optimizer, lr_decay)}
