"""What a model can do is asked of zoo.interfaces: structural protocols, no base class, hints from the registry."""

from __future__ import annotations

import torch

from zoo import interfaces, registry
from zoo.interfaces import (
    AnomalyScoring,
    ConditionalGeneration,
    Generation,
    Reconstruction,
    Translation,
)


class PlainSampler:
    """A plugin's model as a user writes it: no zoo base class, just the methods."""

    latent_dim = 4

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.rand(n, 1, 2, 2, generator=generator)


class LabelledSampler(PlainSampler):
    num_classes = 3

    def sample(self, n: int, generator: torch.Generator | None = None, labels: torch.Tensor | None = None):
        return super().sample(n, generator)


def test_a_model_offers_an_interface_by_having_its_methods():
    assert isinstance(PlainSampler(), Generation) and not isinstance(PlainSampler(), ConditionalGeneration)
    assert isinstance(LabelledSampler(), ConditionalGeneration)
    assert not isinstance(PlainSampler(), Translation | Reconstruction | AnomalyScoring)
    assert interfaces.offered_tasks(PlainSampler()) == ["generation"]
    assert interfaces.fid_interface(PlainSampler()) is Generation


def test_the_builtins_offer_the_interfaces_of_their_task():
    classes = {name: entry.load() for name, entry in registry.entries("model").items() if entry.builtin}
    for name, cls in classes.items():
        assert all(issubclass(cls, protocol) for protocol in interfaces.TASK_INTERFACES[cls.task]), name
    # The VAE reconstructs and also samples: both features switch on, its declared task is what export prefers.
    assert issubclass(classes["vae"], Generation) and issubclass(classes["vae"], AnomalyScoring)
    assert interfaces.batch_kind_of(classes["cyclegan"]) == "unpaired"
    assert interfaces.batch_kind_of(PlainSampler) == "images"


def test_hints_name_the_registered_models_that_offer_an_interface():
    assert set(interfaces.registered_with(Translation)) >= {"cyclegan", "pix2pix"}
    assert set(interfaces.registered_with(Generation)) >= {"gan", "dcgan", "wgan", "wgan_gp", "vae"}
    assert set(interfaces.registered_with(Reconstruction)) >= {"autoencoder", "denoising_autoencoder", "vae"}
