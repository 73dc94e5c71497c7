"""zoo-aae: an adversarial autoencoder registered with the zoo as ``aae`` (entry point group ``zoo.models``)."""

from zoo_aae.model import AdversarialAutoencoder

__all__ = ["AdversarialAutoencoder"]
