"""The VAE: ELBO training, sampling from the prior, negative-ELBO anomaly scores."""

from __future__ import annotations

import math
import warnings

import pytest
import torch

from tests.models.reconstruction_checks import check_reconstruction_family
from zoo.errors import ZooError
from zoo.models.vae import VAE


def test_learns_digits_encodes_decodes_and_scores_anomalies():
    check_reconstruction_family(VAE(lr=2e-3))


def test_kl_term_matches_the_closed_form_for_a_known_posterior():
    model = VAE(latent_dim=2)
    mean, log_var = torch.tensor([[1.0, -2.0]]), torch.tensor([[0.0, math.log(4.0)]])
    model.posterior = lambda images, labels=None: (mean, log_var)
    _, kl, _ = model.elbo_terms(torch.rand(1, 1, 28, 28), sample_latent=False)
    # KL(N(mu, s^2) || N(0, 1)) = 0.5 * (mu^2 + s^2 - 1 - log s^2), summed over dimensions.
    expected = 0.5 * (1 + 1 - 1 - 0) + 0.5 * (4 + 4 - 1 - math.log(4.0))
    assert torch.allclose(kl, torch.tensor([expected]))


def test_sample_is_seeded_and_in_unit_range():
    model = VAE()
    first = model.sample(8, generator=torch.Generator().manual_seed(3))
    again = model.sample(8, generator=torch.Generator().manual_seed(3))
    assert first.shape == (8, 1, 28, 28)
    assert torch.equal(first, again)
    assert first.min() >= 0 and first.max() <= 1


def test_beta_weights_the_kl_term_in_the_training_loss():
    images = torch.rand(4, 1, 28, 28)
    torch.manual_seed(0)
    plain = VAE(beta=1.0)
    torch.manual_seed(0)
    heavy = VAE(beta=4.0)  # the same weights: only beta differs
    reconstruction, kl, _ = plain.elbo_terms(images, sample_latent=False)
    assert torch.allclose(plain.anomaly_score(images), reconstruction + kl)  # the score is the true ELBO, beta or not
    losses = []
    for model in (plain, heavy):
        torch.manual_seed(1)  # the same latent sample for both
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # self.log without a trainer
            losses.append(model.training_step((images, torch.zeros(4)), 0))
    # The KL term does not depend on the sampled latent: the losses differ by (4 - 1) x KL exactly.
    assert kl.mean() > 0
    assert torch.allclose(losses[1] - losses[0], 3 * kl.mean(), atol=1e-3)  # float32 sums of ~500 nats


def test_score_chooses_negative_elbo_its_reconstruction_term_or_the_squared_error():
    torch.manual_seed(0)
    images = torch.rand(5, 1, 28, 28)
    models = {score: VAE(score=score) for score in ("elbo", "bce", "mse")}
    for model in models.values():
        model.load_state_dict(models["elbo"].state_dict())
    reconstruction, kl, _ = models["elbo"].elbo_terms(images, sample_latent=False)
    assert torch.allclose(models["elbo"].anomaly_score(images), reconstruction + kl)
    assert torch.allclose(models["bce"].anomaly_score(images), reconstruction)
    squared = (models["mse"](images) - images).pow(2).flatten(1).mean(1)
    assert torch.allclose(models["mse"].anomaly_score(images), squared, atol=1e-6)


def test_log_likelihood_is_an_importance_weighted_bound_above_the_elbo_and_k1_is_the_elbo():
    torch.manual_seed(0)
    model = VAE(latent_dim=4).eval()
    images = torch.bernoulli(torch.rand(6, 1, 28, 28))
    elbo_samples = model.log_likelihood(images, samples=1000, chunk=1000, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        # The ELBO's expectation, by the same draws one at a time: the IW bound is above it (Burda et al. 2016).
        reconstruction, kl, _ = model.elbo_terms(images, sample_latent=False)
    k500 = model.log_likelihood(images, samples=500, generator=torch.Generator().manual_seed(1))
    k1 = torch.stack([model.log_likelihood(images, samples=1, generator=torch.Generator().manual_seed(seed))
                      for seed in range(200)]).mean(0)
    assert k500.shape == (6,) and torch.isfinite(k500).all()
    assert (k500 > k1).all() and (elbo_samples > k1).all()
    # k = 1 estimates the ELBO, whose KL part is analytic: E[log p(x|z)] - KL, with log p(x|z) at the mean as a check
    assert torch.allclose(k1, -(reconstruction + kl), rtol=0.05)
    assert torch.equal(model.log_likelihood(images, 50, generator=torch.Generator().manual_seed(2)),
                       model.log_likelihood(images, 50, generator=torch.Generator().manual_seed(2)))


def test_kl_warmup_starts_the_kl_weight_at_zero_and_ramps_it_linearly_to_beta():
    model = VAE(beta=2.0, kl_warmup_epochs=10)
    assert [model.kl_weight(epoch) for epoch in (0, 5, 10, 50)] == [0.0, 1.0, 2.0, 2.0]
    assert VAE(beta=2.0).kl_weight(0) == 2.0  # no warm-up by default: the plain VAE is unchanged
    # At epoch 0 the training loss is the reconstruction term alone; validation's ELBO keeps the KL.
    images = torch.bernoulli(torch.rand(4, 1, 28, 28))
    torch.manual_seed(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # self.log without a trainer
        loss = model.training_step((images, torch.zeros(4)), 0)
    torch.manual_seed(1)
    reconstruction, kl, _ = model.elbo_terms(images)
    assert kl.mean() > 0
    assert torch.allclose(loss, reconstruction.mean())


def test_the_iwae_objective_with_one_sample_is_the_elbo_and_with_more_a_tighter_bound():
    torch.manual_seed(0)
    images = torch.bernoulli(torch.rand(6, 1, 28, 28))
    model = VAE(latent_dim=4, train_samples=1)
    # k = 1: minus the one-draw ELBO, the bound log_likelihood(samples=1) measures with the same draw.
    torch.manual_seed(3)
    one = model._iwae_loss(images, None, kl_weight=1.0)
    expected = -model.log_likelihood(images, samples=1, generator=torch.Generator().manual_seed(3)).mean()
    assert torch.allclose(one, expected)
    # Averaged over draws, k = 8 is a tighter (lower) loss than k = 1 (Burda et al. 2016, theorem 1).
    losses = {k: torch.stack([_iwae_loss_of(model, k, images) for _ in range(50)]).mean() for k in (1, 8)}
    assert losses[8] < losses[1]


def _iwae_loss_of(model: VAE, k: int, images: torch.Tensor) -> torch.Tensor:
    model.hparams.train_samples = k
    with torch.no_grad():
        return model._iwae_loss(images, None, kl_weight=1.0)


def test_training_on_the_iwae_bound_fits_and_logs_the_true_elbo_in_validation(tmp_path):
    import lightning as L

    from zoo.data.digits import DigitsDataModule

    model = VAE(latent_dim=8, hidden_dims=[64], train_samples=5, kl_warmup_epochs=1)
    trainer = L.Trainer(accelerator="cpu", max_epochs=2, limit_train_batches=3, limit_val_batches=1, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        num_sanity_val_steps=0, default_root_dir=tmp_path)
    trainer.fit(model, DigitsDataModule(batch_size=16, binarize="dynamic"))
    assert torch.isfinite(trainer.callback_metrics["train/loss"])
    assert trainer.callback_metrics["val/elbo"] < 0  # log-likelihood bound of binary pixels: negative


def test_lr_decay_shrinks_the_learning_rate_once_per_epoch_and_is_off_by_default(tmp_path):
    import lightning as L

    from zoo.data.digits import DigitsDataModule

    learning_rates = {}
    for lr_decay in (1.0, 0.5):
        model = VAE(latent_dim=4, hidden_dims=[32], lr=1e-3, lr_decay=lr_decay)
        trainer = L.Trainer(accelerator="cpu", max_epochs=3, limit_train_batches=2, limit_val_batches=0, logger=False,
                            enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                            default_root_dir=tmp_path)
        trainer.fit(model, DigitsDataModule(batch_size=16))
        learning_rates[lr_decay] = trainer.optimizers[0].param_groups[0]["lr"]
    assert learning_rates == {1.0: 1e-3, 0.5: pytest.approx(1e-3 * 0.5**3)}


@pytest.mark.parametrize("lr_decay", [0.0, 1.5])
def test_lr_decay_outside_zero_to_one_is_refused_in_one_line(lr_decay):
    with pytest.raises(ZooError, match=rf"lr_decay must be in \(0, 1\] .*got {lr_decay}"):
        VAE(lr_decay=lr_decay)
