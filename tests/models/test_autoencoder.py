"""The autoencoder: classic dense defaults, a conv variant, any input size."""

from __future__ import annotations

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
