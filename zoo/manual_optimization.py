"""What every family trained with manual optimization needs from Lightning, as plain functions and one callback.

The GAN families (and the translation families after them) step one optimizer per network
inside ``training_step``. Five parts of Lightning do not fit that pattern out of the box:

- ``trainer.global_step`` counts every ``optimizer.step()`` (Lightning #17958), so with a
  discriminator and a generator ``--trainer.max_steps 1000`` stops after 500 batches. The
  zoo's step budget for these families counts *generator updates*: the discriminator (or
  critic) steps through :func:`step_uncounted`, which runs the same strategy and precision
  code (DDP, grad scaler) as ``LightningOptimizer.step`` but does not count. ``max_steps``,
  the ``step=`` of checkpoint names and resuming with ``--ckpt_path`` all agree with it.
- ``accumulate_grad_batches`` is refused by Lightning for manual optimization with advice
  ("switch to automatic optimization") a GAN cannot follow; :func:`refuse_gradient_accumulation`
  says what to do instead, in one line.
- Learning-rate schedulers are not stepped for you; :func:`catch_up_lr_schedulers` brings them
  to the current epoch at each epoch start (the one policy, right across checkpoints and resume).
- A loss computed by hand under ``16-mixed`` (WGAN-GP's gradient penalty) needs the grad
  scaler's current scale: :func:`loss_scale` gives it as a device tensor, without the host
  sync of ``GradScaler.get_scale()``.
- ``--trainer.gradient_clip_val`` makes Lightning refuse a manual-optimization fit with a
  traceback; the CLI moves the value from the Trainer to :class:`ClipGradientsByHand`, which
  clips before every optimizer step, as Lightning's docs advise for manual optimization.

Two more policies every adversarial family shares: :func:`optimizer_config` (one optimizer and
its scheduler, for the network the family names) and :func:`save_loadable_hyperparameters`
(what of the optimizer arguments a checkpoint keeps).
"""

from __future__ import annotations

import inspect
import warnings

import torch

import lightning as L
from lightning.pytorch.cli import LRSchedulerCallable
from lightning.pytorch.core.optimizer import LightningOptimizer
from torch.optim import Optimizer
from torch.optim.lr_scheduler import ReduceLROnPlateau

from zoo.errors import ZooError


def _family_name(model: L.LightningModule) -> str:
    from zoo import registry

    return registry.display_name(type(model), "model")


def refuse_gradient_accumulation(model: L.LightningModule) -> None:
    """Raise a one-line ZooError when fitting with ``accumulate_grad_batches`` > 1.

    Call it from ``configure_callbacks``: the one model hook Lightning runs before it checks
    the loop configuration and raises its own, less helpful, error.
    """
    trainer = model.trainer
    accumulate = trainer.accumulate_grad_batches
    if trainer.state.fn == "fit" and accumulate != 1:
        raise ZooError(
            f"{_family_name(model)} does not support accumulate_grad_batches={accumulate}: it steps each network "
            f"once per batch with manual optimization; for a {accumulate}x larger effective batch use a "
            f"{accumulate}x larger --data.batch_size or {accumulate}x the devices, and drop "
            "--trainer.accumulate_grad_batches"
        )


def grad_scaler(trainer: L.Trainer):
    """The 16-mixed grad scaler of the trainer's precision plugin, or None (32-true, bf16-mixed)."""
    scaler = getattr(trainer.precision_plugin, "scaler", None)
    return scaler if scaler is not None and scaler.is_enabled() else None


def loss_scale(trainer: L.Trainer) -> torch.Tensor | float:
    """The grad scaler's current scale as it lives on the device (1.0 without a scaler).

    ``GradScaler.get_scale()`` copies the scale to the host (``.item()``), which waits for every
    queued GPU kernel; once a step in, the scale tensor itself serves (``_get_scale_async``, what
    torch's own ``unscale_`` uses). Before the first scaled loss the scaler has no tensor yet and
    ``get_scale()`` returns its initial value without touching a device.
    """
    scaler = grad_scaler(trainer)
    if scaler is None:
        return 1.0
    scale = scaler._get_scale_async()
    return scale if scale is not None else scaler.get_scale()


def _no_closure() -> None:
    return None


def step_uncounted(model: L.LightningModule, optimizer: LightningOptimizer) -> None:
    """``optimizer.step()`` through the strategy and precision plugin, without advancing ``global_step``."""
    model.trainer.strategy.optimizer_step(optimizer.optimizer, closure=_no_closure)


class ClipGradientsByHand(L.Callback):
    """``--trainer.gradient_clip_val`` (and ``gradient_clip_algorithm``) for a manual-optimization family.

    Lightning clips only under automatic optimization and refuses a fit that sets the value otherwise;
    for manual optimization its docs say to call ``clip_gradients`` before each step. This does so in
    ``on_before_optimizer_step``, which every step reaches (``step_uncounted`` too) after the grad
    scaler has unscaled the gradients under ``16-mixed``: each network's gradients are clipped
    apart, with its own optimizer's parameters.
    """

    def __init__(self, value: float, algorithm: str) -> None:
        self.value, self.algorithm = value, algorithm

    def on_before_optimizer_step(self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer) -> None:
        pl_module.clip_gradients(optimizer, gradient_clip_val=self.value, gradient_clip_algorithm=self.algorithm)


def optimizer_config(optimizer: Optimizer, scheduler: LRSchedulerCallable | None, network: str) -> dict:
    """One entry of ``configure_optimizers``' list: ``optimizer`` of ``network`` and, if asked for, its scheduler."""
    config: dict = {"optimizer": optimizer}
    if scheduler is not None:
        lr_scheduler = scheduler(optimizer)
        if isinstance(lr_scheduler, ReduceLROnPlateau):
            raise ZooError(
                f"the {network} scheduler ReduceLROnPlateau needs a monitored metric, which the GAN families do not "
                "track; use an epoch-based scheduler such as torch.optim.lr_scheduler.StepLR or LinearLR"
            )
        config["lr_scheduler"] = lr_scheduler
    return config


def catch_up_lr_schedulers(model: L.LightningModule) -> None:
    """Bring every scheduler to the current epoch; the adversarial families call it at each training epoch start.

    The one scheduler policy of the zoo's manual-optimization families. Stepping at epoch end
    instead would be lost from checkpoints: Lightning saves them at validation end, before
    ``on_train_epoch_end``, so a run resumed from one would repeat a rate. Catching up at the
    start gives a resumed run the rate an uninterrupted one has, whichever checkpoint it came from.
    """
    schedulers = model.lr_schedulers()
    if schedulers is None:
        return
    for scheduler in schedulers if isinstance(schedulers, list) else [schedulers]:
        with warnings.catch_warnings():
            # A network may not have stepped yet (a WGAN's generator in an epoch shorter than n_critic batches, a
            # run resumed in epoch 0): torch's "lr_scheduler.step() before optimizer.step()" warning is about
            # skipping the first rate, which a catch-up to the current epoch does not do.
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step\(\)` before")
            while scheduler.last_epoch < model.current_epoch:
                scheduler.step()


def save_loadable_hyperparameters(model: L.LightningModule) -> None:
    """``save_hyperparameters()`` for the calling ``__init__``, leaving out values a safe loader cannot read.

    The one hyper-parameter policy of the adversarial families. Under LightningCLI an optimizer
    or scheduler argument is saved as its configuration (``class_path``/``init_args``, plain YAML),
    which ``torch.load(weights_only=True)`` and safe YAML read and ``load_from_checkpoint`` turns
    back into the callable: kept. Built in Python, the argument is a callable (a class, a function,
    a partial), which neither can load: left out, so the checkpoint stays safe to load and the
    rebuilt model falls back to the paper's optimizer.
    """
    model.save_hyperparameters(frame=inspect.currentframe().f_back)
    for hparams in (model._hparams, model._hparams_initial):
        for name in [name for name, value in hparams.items() if callable(value)]:
            del hparams[name]
