"""The autoencoder: classic dense defaults, a conv variant, any input size."""

from __future__ import annotations

from unittest.mock import patch

import pytest
import torch

from tests.models.reconstruction_checks import check_reconstruction_family
from zoo.models.autoencoder import Autoencoder


def test_defaults_mirror_the_classic_dense_model():
    model = Autoencoder()
    linears = [module for module in model.modules() if isinstance(module, torch.nn.Linear)]
    assert [(layer.in_features, layer.out_features) for layer in linears] == [(784, 64), (64, 784)]
    images = torch.rand(4, 1, 28, 28)
    assert model.encode(images).min() >= 0  # ReLU code, as in the classic model


@pytest.mark.parametrize("architecture", ["dense", "conv"])
def test_learns_digits_encodes_decodes_and_scores_anomalies(architecture):
    check_reconstruction_family(Autoencoder(architecture=architecture, lr=2e-3))


@pytest.mark.parametrize("image_shape", [(1, 28, 28), (3, 32, 32), (3, 30, 30), (1, 8, 8)])
@pytest.mark.parametrize("architecture", ["dense", "conv"])
def test_any_input_size_round_trips_to_the_same_shape(image_shape, architecture):
    model = Autoencoder(image_shape=image_shape, latent_dim=8, architecture=architecture)
    images = torch.rand(2, *image_shape)
    assert model(images).shape == images.shape


def test_score_chooses_what_anomaly_score_measures():
    torch.manual_seed(0)
    images = torch.rand(5, 1, 28, 28)
    mse, bce = Autoencoder(score="mse"), Autoencoder(score="bce")
    bce.load_state_dict(mse.state_dict())
    reconstruction = mse(images)
    assert torch.allclose(mse.anomaly_score(images), (reconstruction - images).pow(2).flatten(1).mean(1), atol=1e-6)
    expected = torch.nn.functional.binary_cross_entropy(reconstruction, images, reduction="none").flatten(1).mean(1)
    assert torch.allclose(bce.anomaly_score(images), expected, atol=1e-5)


def test_blurred_mse_counts_a_missing_stroke_over_a_shifted_one():
    # Equal squared error in pixels (40 wrong pixels each): a stroke redrawn one pixel to the right, or a
    # two-pixel-wide stroke left out. The blurred score sees the first as near-noise, the second as a blob.
    images = torch.zeros(2, 1, 28, 28)
    images[0, :, 4:24, 13] = 1.0
    images[1, :, 4:24, 13:15] = 1.0
    reconstructions = torch.zeros_like(images)
    reconstructions[0, :, 4:24, 14] = 1.0
    scores = {}
    for score in ("mse", "blurred_mse"):
        model = Autoencoder(score=score)
        logits = torch.logit(reconstructions.clamp(1e-6, 1 - 1e-6))
        with patch.object(Autoencoder, "encode", lambda self, batch: batch):
            with patch.object(model.decoder, "forward", lambda latents: logits):
                scores[score] = model.anomaly_score(images)
    assert torch.allclose(scores["mse"][0], scores["mse"][1])
    assert scores["blurred_mse"][0] < scores["blurred_mse"][1] / 3
