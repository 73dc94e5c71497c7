"""FID feature extractors: the shipped digits network, Inception offline, and choosing by name."""

from __future__ import annotations

import urllib.error

import pytest
import torch
from torch import nn

from zoo import registry
from zoo.data.digits import digits_splits
from zoo.errors import ZooError
from zoo.metrics.features import (
    DIGITS_WEIGHTS,
    DigitsFeatureExtractor,
    InceptionFeatureExtractor,
    build_feature_extractor,
    feature_class,
    load_digits_checkpoint,
)


@pytest.fixture(scope="module")
def digits():
    return digits_splits()


class MeanColour(nn.Module):
    """A user's own extractor without ``num_features``: the zoo measures it."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images.mean(dim=(2, 3))


def test_shipped_digits_network_classifies_the_test_split(digits):
    extractor = DigitsFeatureExtractor()
    test_images, test_labels = digits["test"].tensors
    accuracy = (extractor.classify(test_images) == test_labels).float().mean().item()
    # The training script measured 0.986 on these 500 digits; the shipped file says what it measured.
    assert accuracy >= 0.97
    assert accuracy == pytest.approx(load_digits_checkpoint()["test_accuracy"], abs=1e-6)
    assert DIGITS_WEIGHTS.stat().st_size < 1_000_000


def test_digits_features_are_the_penultimate_layer_and_stay_frozen(digits):
    extractor = DigitsFeatureExtractor()
    images = digits["val"].tensors[0][:8]
    extractor.train()  # a LightningModule holding it would do this; dropout must stay off
    assert not extractor.training and not extractor.net.training
    features = extractor(images)
    assert features.shape == (8, extractor.num_features) and extractor.num_features == 128
    assert torch.equal(features, extractor(images))
    assert not any(parameter.requires_grad for parameter in extractor.parameters())


def test_digits_extractor_takes_rgb_and_other_sizes_and_refuses_odd_channels(digits):
    extractor = DigitsFeatureExtractor()
    grey = digits["val"].tensors[0][:4]
    rgb_32 = torch.nn.functional.interpolate(grey, size=(32, 32), mode="bilinear").expand(-1, 3, -1, -1)
    assert extractor(rgb_32).shape == (4, 128)
    assert (extractor.classify(rgb_32) == extractor.classify(grey)).float().mean() >= 0.75
    with pytest.raises(ZooError, match="1- or 3-channel"):
        extractor(torch.rand(2, 2, 28, 28))


def test_auto_picks_digits_for_28x28_grayscale_and_inception_otherwise():
    assert feature_class("auto", (1, 28, 28)) is DigitsFeatureExtractor
    assert feature_class("auto", (3, 32, 32)) is InceptionFeatureExtractor
    assert feature_class("auto", (1, 64, 64)) is InceptionFeatureExtractor


def test_extractors_are_found_by_registry_name_and_class_path():
    assert {"digits", "inception"} <= set(registry.entries("feature"))
    assert isinstance(build_feature_extractor("digits"), DigitsFeatureExtractor)
    assert isinstance(build_feature_extractor("zoo.metrics.features.DigitsFeatureExtractor"), DigitsFeatureExtractor)
    plugin = build_feature_extractor(f"{__name__}.MeanColour", image_shape=(3, 8, 8))
    assert plugin.num_features == 3
    with pytest.raises(ZooError, match="did you mean digits"):
        build_feature_extractor("digit")


@pytest.fixture
def no_download(monkeypatch):
    """Any attempt to fetch the Inception weights fails here as it would offline, without touching the network."""
    import torch_fidelity.feature_extractor_inceptionv3 as fidelity_inception

    attempts = []

    def offline(url, *args, **kwargs):
        attempts.append(url)
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(fidelity_inception, "load_state_dict_from_url", offline)
    return attempts


def test_inception_offline_says_both_fixes_without_trying_to_download(no_download, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch_home"))
    with pytest.raises(ZooError) as error:
        build_feature_extractor("auto", (3, 32, 32))
    message = str(error.value)
    assert "--fid.inception_weights PATH" in message and "--fid.allow_download true" in message
    assert str(tmp_path / "empty_torch_home") in message
    assert no_download == []


def test_inception_download_failure_is_a_zoo_error_naming_both_fixes(no_download, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch_home"))
    with pytest.raises(ZooError, match="download failed") as error:
        InceptionFeatureExtractor(allow_download=True)
    assert "--fid.inception_weights PATH" in str(error.value) and "--fid.allow_download true" in str(error.value)
    assert len(no_download) == 1 and no_download[0].endswith(".pth")


def test_inception_weights_path_must_exist(no_download, tmp_path):
    with pytest.raises(ZooError, match="is not a file"):
        InceptionFeatureExtractor(weights=str(tmp_path / "missing.pth"))


def test_inception_loads_local_weights_and_takes_grayscale(no_download, tmp_path, monkeypatch):
    """The offline fix works: torchmetrics' Inception from a local file (random weights stand in for the real ones)."""
    import torch_fidelity.feature_extractor_inceptionv3 as fidelity_inception

    # Build the network once with its loading step skipped, to write a weights file of the right layout.
    with monkeypatch.context() as patch:
        patch.setattr(fidelity_inception, "load_state_dict_from_url", lambda *args, **kwargs: {})
        patch.setattr(fidelity_inception.FeatureExtractorInceptionV3, "load_state_dict", lambda self, state: None)
        random_network = InceptionFeatureExtractor(allow_download=True).inception
    weights = tmp_path / "inception.pth"
    torch.save(random_network.state_dict(), weights)

    extractor = InceptionFeatureExtractor(weights=str(weights), num_features=64)
    features = extractor(torch.rand(2, 1, 28, 28))
    assert features.shape == (2, 64) and torch.isfinite(features).all()
    assert no_download == []
