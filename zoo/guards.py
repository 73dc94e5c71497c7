"""Stop a run at the first NaN or Inf, keeping the weights from before it.

A non-finite loss poisons the weights in the optimizer step that follows it, and every
step after that trains on garbage while the run looks alive. :class:`NonFiniteGuard`
(``--nan.*`` on the CLI, attached to every run) checks each optimizer's gradients just before
its step and drops non-finite ones, so the optimizer leaves those weights alone; at the end
of the batch it checks every metric the model logged in training. A bad step then stops
the run with one line naming the loss, the step and the usual causes, after saving
``last.ckpt`` with the weights of the last good step. ``--nan.skip_steps N`` skips up to N
bad steps instead, for GANs that recover from a bad batch.

Under ``16-mixed`` precision the grad scaler already skips steps with overflowing gradients
and lowers its scale (that is how it finds its scale: WGAN-GP's first steps overflow at the
initial 65536); such a skipped step leaves the weights alone and does not stop the run. The
run stops when a non-finite value comes with no skip, or once the scale has collapsed.
"""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_warn

from zoo.errors import ZooError
from zoo.manual_optimization import grad_scaler

# What a user can turn when a loss blows up; named in the message, in the order worth trying.
LIKELY_KNOBS = (
    "a lower learning rate (--model.lr, or --model.optimizer_g/optimizer_d init_args.lr)",
    "full precision (--trainer.precision 32) if you train in 16-mixed, 16-true or bf16",
    "a lower gradient penalty weight (--model.penalty_weight) for wgan_gp",
)

EVALUATION_PREFIXES = ("val/", "test/", "predict/")


class NonFiniteLossError(ZooError):
    """A logged loss or a gradient became NaN or Inf; the message says which, when and what to try."""


class NonFiniteGuard(Callback):
    """Stop (or skip) a training step whose logged losses or gradients are NaN or Inf.

    Args:
        enabled: check every step (the cost: one finiteness test of the gradients per optimizer step).
        skip_steps: bad steps to skip (their updates dropped, with a warning each) before stopping the run;
            0 stops at the first.
    """

    def __init__(self, enabled: bool = True, skip_steps: int = 0) -> None:
        if skip_steps < 0:
            raise ZooError(f"nan.skip_steps must be >= 0, got {skip_steps}")
        self.enabled = enabled
        self.skip_steps = skip_steps
        self.skipped = 0
        self._bad_gradients: list[str] = []
        self._scale_before: torch.Tensor | None = None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._bad_gradients = []

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        # The scale as a device tensor (a copy: the scaler updates its own in place); get_scale() would wait for
        # the GPU here and again at the batch's end. None before the scaler's first step.
        scaler = grad_scaler(trainer) if self.enabled else None
        scale = scaler._get_scale_async() if scaler is not None else None
        self._scale_before = scale.clone() if scale is not None else None

    def _scaler_skipped_the_step(self, trainer: L.Trainer) -> torch.Tensor | bool:
        """Under 16-mixed, a step whose values overflowed is one the grad scaler skipped and answered by lowering
        its scale: how it calibrates (its first steps often overflow at the initial 65536), not a diverging run.
        A scale fallen below 1e-8 is no calibration any more. A device tensor, read with the step's one sync."""
        scaler = grad_scaler(trainer)
        scale = scaler._get_scale_async() if scaler is not None else None
        if scale is None:
            return False
        before = self._scale_before if self._scale_before is not None else torch.full_like(scale, scaler._init_scale)
        return (scale < before) & (scale > 1e-8)

    def on_before_optimizer_step(self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer) -> None:
        if not self.enabled or grad_scaler(trainer) is not None:
            return
        parameters = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        if not parameters:
            return
        # A NaN or Inf anywhere makes its tensor's sum NaN or Inf: one reduction per gradient, where
        # isfinite().all() wrote a boolean copy of every gradient and reduced it again (it cost a tiny
        # model's step about as much as the optimizer did). A finite sum that overflows float32 counts
        # as non-finite too: such a gradient would wreck the weights anyway.
        finite = torch.stack([p.grad.sum(dtype=torch.float32) for p in parameters]).isfinite().all()
        if bool(finite):
            return
        # A parameter without a gradient is one the optimizer leaves alone (and its moments too).
        for parameter in parameters:
            parameter.grad = None
        index = trainer.optimizers.index(optimizer) if optimizer in trainer.optimizers else 0
        self._bad_gradients.append(f"gradients of optimizer {index}")

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx: int
                           ) -> None:
        if not self.enabled:
            return
        # This step's values: not evaluation metrics, nor epoch means (one skipped NaN step makes its epoch's mean
        # NaN, which would then stop the next epoch at its first batch).
        logged = {name: value for name, value in trainer.callback_metrics.items()
                  if torch.is_tensor(value) and value.numel() == 1
                  and not name.startswith(EVALUATION_PREFIXES) and not name.endswith("_epoch")}
        finite = torch.stack([value.float() for value in logged.values()]).isfinite().all() if logged else True
        if self._bad_gradients:
            finite = False
        # One sync per step: the finiteness and, under 16-mixed, whether the grad scaler skipped the step.
        skipped = self._scaler_skipped_the_step(trainer)
        is_bad = bool(~torch.as_tensor(finite) & ~torch.as_tensor(skipped))
        bad = {name: float(value) for name, value in logged.items()
               if not math.isfinite(float(value))} if is_bad else {}
        if trainer.world_size > 1:  # every rank must take the same way out, or one waits forever on the others
            is_bad = trainer.strategy.reduce_boolean_decision(is_bad, all=False)
        # `train/loss_step` repeats `train/loss` when a loss is logged per step and per epoch.
        losses = [f"{name} = {value}" for name, value in bad.items()
                  if not (name.endswith("_step") and name[: -len("_step")] in bad)]
        gradients = [f"non-finite {what}" for what in dict.fromkeys(self._bad_gradients)]
        what = ", ".join(losses + gradients) or "a non-finite value on another process"
        self._bad_gradients = []
        if not is_bad:
            return
        step = trainer.global_step
        if self.skipped < self.skip_steps:
            self.skipped += 1
            rank_zero_warn(f"skipped a bad training step (step {step}, batch {batch_idx}: {what}); "
                           f"{self.skipped} of --nan.skip_steps {self.skip_steps} used")
            return
        saved = self._save_last_good(trainer)
        kept = f"the weights from before it are in {saved}" if saved else "no checkpoint was saved"
        raise NonFiniteLossError(
            f"{what} at step {step} (epoch {trainer.current_epoch}, batch {batch_idx}); the run stopped and {kept}. "
            f"Likely fixes: {'; '.join(LIKELY_KNOBS)}; or --nan.skip_steps N to skip up to N bad steps"
        )

    def _save_last_good(self, trainer: L.Trainer) -> Path | None:
        """``last.ckpt`` beside the run's other checkpoints: the weights are still those of the last good step.

        The bad step's gradients were dropped before any optimizer used them, so the weights saved here are
        finite; under 16-mixed the grad scaler skipped the step itself.
        """
        callback = trainer.checkpoint_callback
        folder = Path(callback.dirpath) if callback is not None and callback.dirpath else Path(trainer.default_root_dir)
        path = folder / "last.ckpt"
        trainer.save_checkpoint(path, weights_only=False)  # every rank calls it; only rank 0 writes
        return path
