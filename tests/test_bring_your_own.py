"""Bring your own LightningModule: a module written as Lightning's "Basic GAN" tutorial writes it.

Untyped shape arguments (``channels, width, height``), ``**kwargs``, ``toggle_optimizer``,
``forward(z)`` and no zoo interface: installed as its own distribution with only a
``zoo.models`` entry point, ``zoo fit --model tutorial_gan --data digits`` trains it with the
digits' shape linked. The same module plus ``sample`` (and a ``validation_step``, so that
Lightning runs a validation loop) gets FID, as the built-ins do.
"""

from __future__ import annotations

import os

import torch

from tests.conftest import FAST_TRAINER, run_zoo
from tests.test_plugins import discover_from, table_rows, write_distribution  # noqa: F401  (a fixture)
from zoo import registry

# As in Lightning's tutorial (lightning.ai/docs/pytorch/stable/notebooks/lightning_examples/basic-gan.html), less
# its `self.logger.experiment.add_image` calls, which bind a model to TensorBoard (CSVLogger has no add_image).
TUTORIAL_GAN = '''
import lightning as L
import numpy as np
import os

import torch
import torch.nn as nn
import torch.nn.functional as F


class Generator(nn.Module):
    def __init__(self, latent_dim, img_shape):
        super().__init__()
        self.img_shape = img_shape

        def block(in_feat, out_feat, normalize=True):
            layers = [nn.Linear(in_feat, out_feat)]
            if normalize:
                layers.append(nn.BatchNorm1d(out_feat, 0.8))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            return layers

        self.model = nn.Sequential(
            *block(latent_dim, 128, normalize=False),
            *block(128, 256),
            nn.Linear(256, int(np.prod(img_shape))),
            nn.Tanh(),
        )

    def forward(self, z):
        img = self.model(z)
        return img.view(img.size(0), *self.img_shape)


class Discriminator(nn.Module):
    def __init__(self, img_shape):
        super().__init__()
        self.model = nn.Sequential(
            nn.Linear(int(np.prod(img_shape)), 256),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(256, 1),
            nn.Sigmoid(),
        )

    def forward(self, img):
        return self.model(img.view(img.size(0), -1))


class GAN(L.LightningModule):
    def __init__(self, channels, width, height, latent_dim: int = 100, lr: float = 0.0002, b1: float = 0.5,
                 b2: float = 0.999, batch_size: int = 256, **kwargs):
        super().__init__()
        self.save_hyperparameters()
        self.automatic_optimization = False
        data_shape = (channels, width, height)
        self.generator = Generator(latent_dim=self.hparams.latent_dim, img_shape=data_shape)
        self.discriminator = Discriminator(img_shape=data_shape)

    def forward(self, z):
        return self.generator(z)

    def adversarial_loss(self, y_hat, y):
        return F.binary_cross_entropy(y_hat, y)

    def training_step(self, batch):
        imgs, _ = batch
        optimizer_g, optimizer_d = self.optimizers()
        z = torch.randn(imgs.shape[0], self.hparams.latent_dim).type_as(imgs)

        self.toggle_optimizer(optimizer_g)
        valid = torch.ones(imgs.size(0), 1).type_as(imgs)
        g_loss = self.adversarial_loss(self.discriminator(self(z)), valid)
        self.log("g_loss", g_loss, prog_bar=True)
        self.manual_backward(g_loss)
        optimizer_g.step()
        optimizer_g.zero_grad()
        self.untoggle_optimizer(optimizer_g)

        self.toggle_optimizer(optimizer_d)
        valid = torch.ones(imgs.size(0), 1).type_as(imgs)
        real_loss = self.adversarial_loss(self.discriminator(imgs), valid)
        fake = torch.zeros(imgs.size(0), 1).type_as(imgs)
        fake_loss = self.adversarial_loss(self.discriminator(self(z).detach()), fake)
        d_loss = (real_loss + fake_loss) / 2
        self.log("d_loss", d_loss, prog_bar=True)
        self.manual_backward(d_loss)
        optimizer_d.step()
        optimizer_d.zero_grad()
        self.untoggle_optimizer(optimizer_d)

    def configure_optimizers(self):
        lr, b1, b2 = self.hparams.lr, self.hparams.b1, self.hparams.b2
        opt_g = torch.optim.Adam(self.generator.parameters(), lr=lr, betas=(b1, b2))
        opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=lr, betas=(b1, b2))
        return [opt_g, opt_d], []
'''

# What the tutorial's author adds for FID and sample grids: `sample`, in [0, 1], and a validation loop.
WITH_SAMPLE = TUTORIAL_GAN + '''

class SamplingGAN(GAN):
    def sample(self, n, generator=None):
        z = torch.randn(n, self.hparams.latent_dim, generator=generator).to(self.device)
        return (self(z) + 1) / 2

    def validation_step(self, batch, batch_idx):
        pass
'''

# Takes no shape argument at all: it still trains, at the shape it builds itself.
SHAPELESS = '''
import lightning as L
import os

import torch


class Shapeless(L.LightningModule):
    def __init__(self, hidden=16):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, hidden), torch.nn.Linear(hidden, 784))

    def training_step(self, batch, batch_idx):
        images = batch[0]
        return (self.net(images) - images.flatten(1)).pow(2).mean()

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters())
'''


def install(site) -> None:
    write_distribution(site, "tutorial-gan", {"zoo.models": {"tutorial_gan": "tutorial_gan:GAN",
                                                             "tutorial_gan_sampling": "tutorial_gan:SamplingGAN",
                                                             "shapeless": "shapeless_module:Shapeless"}},
                       {"tutorial_gan": WITH_SAMPLE, "shapeless_module": SHAPELESS})


def test_a_tutorial_gan_trains_through_zoo_fit_with_the_digits_shape_linked(tmp_path, monkeypatch):
    site = tmp_path / "site"
    install(site)
    monkeypatch.setenv("PYTHONPATH", str(site), prepend=os.pathsep)
    rows = table_rows(run_zoo(["list"], cwd=tmp_path).stdout)
    assert "broken" not in rows["tutorial_gan"] and "tutorial-gan" in rows["tutorial_gan"]
    run_zoo(["fit", "--model", "tutorial_gan", "--data", "digits", *FAST_TRAINER, "--model.lr", "0.001"],
            cwd=tmp_path)
    checkpoint = torch.load(tmp_path / "runs" / "tutorial_gan" / "version_0" / "checkpoints" / "last.ckpt",
                            weights_only=False)
    hparams = checkpoint["hyper_parameters"]
    assert (hparams["channels"], hparams["height"], hparams["width"]) == (1, 28, 28)  # from the digits
    assert hparams["lr"] == 0.001
    # Only the spellings it takes: the other links (image_shape, img_shape, ...) are not recorded as its arguments.
    assert not {"image_shape", "img_shape", "input_shape"} & set(hparams)
    assert checkpoint["state_dict"]["generator.model.5.weight"].shape == (784, 256)
    assert checkpoint["global_step"] == 8  # Lightning counts both optimizers' steps: 4 batches


def test_the_tutorial_gan_plus_sample_gets_fid_and_sample_grids(tmp_path, monkeypatch):
    site = tmp_path / "site"
    install(site)
    monkeypatch.setenv("PYTHONPATH", str(site), prepend=os.pathsep)
    run_zoo(["fit", "--model", "tutorial_gan_sampling", "--data", "digits", *FAST_TRAINER,
             "--fid.num_samples", "100"], cwd=tmp_path)
    run_dir = tmp_path / "runs" / "tutorial_gan_sampling" / "version_0"
    header = (run_dir / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"val/fid", "val/kid"} <= set(header)
    assert list((run_dir / "samples").glob("*.png")), "no sample grid was written"


def test_zoo_info_says_what_the_cli_makes_of_untyped_arguments_kwargs_and_the_shape(tmp_path, discover_from,
                                                                                  capsys):
    install(tmp_path)
    discover_from(tmp_path)
    from zoo.commands.info import command_info

    command_info(["tutorial_gan"])
    card = capsys.readouterr().out
    assert "argument 'channels' has no type annotation (required, no default)" in card
    assert "takes **kwargs: the CLI ignores it" in card
    assert "linked into channels, width, height" in card
    command_info(["shapeless"])
    card = capsys.readouterr().out
    assert "argument 'hidden' has no type annotation (default 16, of type int)" in card
    assert "takes no shape argument" in card and "nothing is linked" in card
    assert registry.shape_arguments(registry.get("model", "dcgan").load()) == ["image_shape"]


def test_a_model_without_a_shape_argument_still_trains(tmp_path, monkeypatch):
    site = tmp_path / "site"
    install(site)
    monkeypatch.setenv("PYTHONPATH", str(site), prepend=os.pathsep)
    run_zoo(["fit", "--model", "shapeless", "--data", "digits", *FAST_TRAINER, "--model.hidden", "8"], cwd=tmp_path)
    checkpoint = torch.load(tmp_path / "runs" / "shapeless" / "version_0" / "checkpoints" / "last.ckpt",
                            weights_only=False)
    assert checkpoint["state_dict"]["net.1.weight"].shape == (8, 784)
