"""Training-time callbacks that switch on by interface, so a plugin model gets them without inheriting from us.

:class:`SampleGridCallback` serves every model with ``sample(n, generator=None)`` (the
generation task: the GANs, the VAE): a grid of samples from the same fixed noise after every
validation, so one run's grids show the same latent points improving, written through
whatever logger is attached.

:class:`TranslationGridCallback` serves every model with ``translation_grid(batch,
max_images=8)`` (the translation task: pix2pix, CycleGAN): the first validation batch of the
epoch, translated, after every validation, through the same loggers.

:class:`RunCheckpoint` is the CLI's checkpoint callback: Lightning's ``ModelCheckpoint``
that also writes ``last.ckpt`` when a fit stops early (Ctrl-C, SIGTERM, a crash), so
resuming from ``last.ckpt`` loses no training step.

:class:`GeneratorEMA` keeps an exponential moving average of a GAN's generator weights, which
sampling, validation, the checkpoints and the model after ``fit`` use (Lightning's
``EMAWeightAveraging``, narrowed to the generator).
"""

from __future__ import annotations

import itertools
import math
import os
import time
import warnings
from pathlib import Path
from typing import Literal

import lightning as L
import torch
from lightning.pytorch.callbacks import EMAWeightAveraging, ModelCheckpoint, RichProgressBar, TQDMProgressBar
from lightning.pytorch.loggers import Logger, TensorBoardLogger, WandbLogger
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities import move_data_to_device, rank_zero_info, rank_zero_warn
from lightning.pytorch.utilities.exceptions import SIGTERMException
from torchvision.utils import make_grid, save_image

from zoo.errors import ZooError
from zoo.interfaces import (AnomalyScoring, ConditionalGeneration, Encoding, Generation, Reconstruction, Translation,
                            TranslationGrid)


def log_grid(trainer: L.Trainer, key: str, grid: torch.Tensor) -> None:
    """Send a float (C, H, W) image in [0, 1] to every attached logger, the way each shows images.

    W&B gets ``log_image``, TensorBoard ``add_image``; any other logger (CSV) gets a PNG at
    ``<log_dir>/<key>/epoch=003.png``, and no logger at all one under the trainer's root.
    Nothing under ``fast_dev_run``, whose promise is a run that writes nothing.
    """
    if trainer.fast_dev_run:
        return
    loggers: list[Logger] = list(trainer.loggers)
    if not loggers:
        _save_png(grid, trainer.default_root_dir, key, trainer.current_epoch)
    for logger in loggers:
        if isinstance(logger, WandbLogger):
            logger.log_image(key=key, images=[grid], step=trainer.global_step)
        elif isinstance(logger, TensorBoardLogger):
            logger.experiment.add_image(key, grid, global_step=trainer.global_step)
        else:
            _save_png(grid, logger.log_dir or trainer.default_root_dir, key, trainer.current_epoch)


def _save_png(grid: torch.Tensor, directory: str | Path, key: str, epoch: int) -> None:
    path = Path(directory) / key / f"epoch={epoch:03d}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(grid, path)


class SampleGridCallback(L.Callback):
    """A grid of ``num_samples`` images from fixed noise after validation, sent to every attached logger.

    W&B gets ``log_image``, TensorBoard ``add_image``; any other logger (CSV, none) gets a PNG
    at ``<log_dir>/samples/epoch=003.png``. Drawn on every process in the trainer's precision,
    written by rank 0 only; never during the sanity check, and nothing at all for models without
    ``sample``.
    """

    def __init__(self, num_samples: int = 64, every_n_epochs: int = 1, seed: int = 0, key: str = "samples") -> None:
        """
        Args:
            num_samples: images per grid, laid out in a square-ish grid.
            every_n_epochs: write a grid after the validation of every n-th training epoch.
            seed: seed of the fixed noise, the same for every grid of the run.
            key: the name images are logged under (and the folder the PNGs go to).
        """
        super().__init__()
        if num_samples < 1 or every_n_epochs < 1:
            raise ZooError(f"SampleGridCallback needs num_samples >= 1 and every_n_epochs >= 1, "
                           f"got {num_samples} and {every_n_epochs}")
        self.num_samples = num_samples
        self.every_n_epochs = every_n_epochs
        self.seed = seed
        self.key = key

    def sample_grid(self, model: L.LightningModule) -> torch.Tensor:
        """The grid as a float image (3, H, W) in [0, 1], from this callback's fixed noise.

        A conditional model (``num_classes`` > 0) gets one row per class, ``num_samples // num_classes``
        images each (at least one), so a class the model has not learnt shows as a bad row.
        """
        # A CPU generator: the same noise whatever device the model is on.
        rng = torch.Generator().manual_seed(self.seed)
        num_classes = getattr(model, "num_classes", 0) if isinstance(model, ConditionalGeneration) else 0
        if num_classes:
            nrow = max(1, self.num_samples // num_classes)
            labels = torch.arange(num_classes).repeat_interleave(nrow)
            images = model.sample(len(labels), generator=rng, labels=labels)
        else:
            images = model.sample(self.num_samples, generator=rng)
            nrow = math.ceil(math.sqrt(self.num_samples))
        return make_grid(images.detach().float().cpu().clamp(0, 1), nrow=nrow, padding=2)

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not isinstance(pl_module, Generation):
            return
        if (trainer.current_epoch + 1) % self.every_n_epochs != 0:
            return
        # Drawn on every process, logged by rank 0: under FSDP a forward pass gathers each layer's shards from
        # every process, so rank 0 alone would wait on the others for ever.
        with torch.no_grad(), trainer.precision_plugin.forward_context():
            grid = self.sample_grid(pl_module)
        if trainer.is_global_zero:
            log_grid(trainer, self.key, grid)


class TranslationGridCallback(L.Callback):
    """The first validation batch of the epoch, translated, after validation, sent to every attached logger.

    The model draws the grid (pix2pix: a row of A | fake B | real B per example; CycleGAN adds
    the way back); this callback keeps the batch and logs the picture as
    :class:`SampleGridCallback` does: W&B ``log_image``, TensorBoard ``add_image``, else a PNG
    at ``<log_dir>/translations/epoch=003.png``. Drawn on every process, written by rank 0
    only; never during the sanity check, nothing for models without ``translation_grid``.
    """

    def __init__(self, max_images: int = 8, every_n_epochs: int = 1, key: str = "translations") -> None:
        """
        Args:
            max_images: examples (rows) per grid, from the first validation batch.
            every_n_epochs: write a grid after the validation of every n-th training epoch.
            key: the name images are logged under (and the folder the PNGs go to).
        """
        super().__init__()
        if max_images < 1 or every_n_epochs < 1:
            raise ZooError(f"TranslationGridCallback needs max_images >= 1 and every_n_epochs >= 1, "
                           f"got {max_images} and {every_n_epochs}")
        self.max_images = max_images
        self.every_n_epochs = every_n_epochs
        self.key = key
        self._batch: dict[str, torch.Tensor] | None = None

    def _due(self, trainer: L.Trainer, pl_module: L.LightningModule) -> bool:
        return (not trainer.sanity_checking and isinstance(pl_module, TranslationGrid)
                and (trainer.current_epoch + 1) % self.every_n_epochs == 0)

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._batch = None

    def on_validation_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch,
                                batch_idx: int, dataloader_idx: int = 0) -> None:
        if self._batch is not None or dataloader_idx != 0 or not self._due(trainer, pl_module):
            return
        # Only the rows the grid shows, on the CPU: the epoch's other batches must not wait on device memory.
        self._batch = {name: images[: self.max_images].detach().cpu() for name, images in batch.items()
                       if isinstance(images, torch.Tensor)}

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._batch is None or not self._due(trainer, pl_module):
            return
        batch, self._batch = move_data_to_device(self._batch, pl_module.device), None
        # Every process translates its own first batch (FSDP's forward needs them all, see SampleGridCallback);
        # in the trainer's precision, as validation ran (FSDP's mixed precision keeps bf16 weights in forward).
        with torch.no_grad(), trainer.precision_plugin.forward_context():
            grid = pl_module.translation_grid(batch, max_images=self.max_images)
        if trainer.is_global_zero:
            log_grid(trainer, self.key, grid.detach().float().cpu().clamp(0, 1))


class _LossesEveryLogInterval:
    """Mixin of Lightning's progress bars: the training losses (``train/*loss``), read every ``log_every_n_steps``.

    A value logged with ``prog_bar=True`` is copied to the host (``.item()``) after every batch,
    whether a bar draws it or not; on a GPU each copy waits for every queued kernel. The families
    log their training losses without ``prog_bar``; these bars read them from
    ``callback_metrics`` on the batches the loggers read them too (``--trainer.log_every_n_steps``,
    and each epoch's first batch), and show the last values read in between. The CLI puts them in
    place of Lightning's default bar (:func:`zoo.training.policy.show_losses_without_per_step_syncs`).
    """

    _losses: dict[str, float] = {}

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch,
                           batch_idx: int) -> None:
        if batch_idx % max(1, trainer.log_every_n_steps) == 0:
            self._losses = {name: float(value) for name, value in trainer.callback_metrics.items()
                            if name.startswith("train/") and name.endswith("loss") and torch.is_tensor(value)
                            and value.numel() == 1}
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict:
        metrics = {**self._losses, **super().get_metrics(trainer, pl_module)}
        if isinstance(metrics.get("v_num"), int):  # Rich formats every number as ".3f": "v_num: 2.000"
            metrics["v_num"] = str(metrics["v_num"])
        return metrics


class LossProgressBar(_LossesEveryLogInterval, TQDMProgressBar):
    """Lightning's TQDM bar with the training losses, read every ``log_every_n_steps`` batches."""


class LossRichProgressBar(_LossesEveryLogInterval, RichProgressBar):
    """Lightning's Rich bar (its default where rich is installed) with the training losses, read likewise."""

    def _get_train_description(self, current_epoch: int) -> str:
        # A run budgeted in steps has max_epochs -1, which Lightning's bar shows as "Epoch 0/-2".
        if self.trainer.max_epochs is not None and self.trainer.max_epochs < 0:
            return f"{f'Epoch {current_epoch}':{len(self.validation_description)}}"
        return super()._get_train_description(current_epoch)


class CUDASettings(L.Callback):
    """Speed settings of PyTorch's that pay on NVIDIA GPUs, set for the run when it trains on one (``--gpu.*``).

    Neither is Lightning's to set by default: it leaves ``torch.set_float32_matmul_precision`` at
    "highest" (and warns on GPUs with tensor cores) and cuDNN's autotuner off. The zoo's
    networks see one image size per run, which is what cuDNN's benchmark mode wants. Nothing
    changes on the CPU or under deterministic algorithms; the previous values come back when the
    run ends, so a notebook or a second run in the same process starts clean.

    Args:
        float32_matmul_precision: "highest" (full float32), "high" (TF32 on Ampere and later: ~10 bits of mantissa
            in the products, float32 sums) or "medium" (bfloat16 products). Mixed precision runs do their
            matmuls in 16 bits anyway; this is for ``--trainer.precision 32``.
        cudnn_benchmark: let cuDNN time its convolution algorithms on the first batches and keep the fastest.
    """

    def __init__(self, float32_matmul_precision: Literal["highest", "high", "medium"] = "high",
                 cudnn_benchmark: bool = True) -> None:
        self.float32_matmul_precision = float32_matmul_precision
        self.cudnn_benchmark = cudnn_benchmark
        self._previous: tuple[str, bool] | None = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if trainer.strategy.root_device.type != "cuda" or self._previous is not None:
            return
        self._previous = (torch.get_float32_matmul_precision(), torch.backends.cudnn.benchmark)
        torch.set_float32_matmul_precision(self.float32_matmul_precision)
        deterministic = torch.are_deterministic_algorithms_enabled() or torch.backends.cudnn.deterministic
        torch.backends.cudnn.benchmark = self.cudnn_benchmark and not deterministic

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self._previous is not None:
            torch.set_float32_matmul_precision(self._previous[0])
            torch.backends.cudnn.benchmark = self._previous[1]
            self._previous = None


class DistinctRankNoise(L.Callback):
    """Give every process of a multi-process fit its own random stream: seed + global rank.

    ``seed_everything`` seeds every process alike, so without this each rank would draw the
    same noise: the denoising autoencoder's corruption, the VAE's reparameterisation, dropout
    masks, WGAN-GP's interpolation weights; DDP would then average gradients of identical
    draws and the extra processes would add data but no fresh noise. Reseeded in ``setup``,
    before DDP wraps the model (which then copies rank 0's initial weights to every rank), so
    training starts from one model and draws distinct noise; a run repeats exactly at the
    same process count. Nothing is reseeded during training or validation.
    """

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        base_seed = os.environ.get("PL_GLOBAL_SEED")
        if stage == TrainerFn.FITTING and trainer.world_size > 1 and base_seed is not None:
            from lightning.fabric.utilities.seed import seed_everything

            seed_everything(int(base_seed) + trainer.global_rank, verbose=False)
            os.environ["PL_GLOBAL_SEED"] = base_seed  # the run's seed, as the user gave it, for a later fit


def in_last_epoch(trainer: L.Trainer) -> bool:
    """True in the fit's last epoch (``max_epochs``) or once ``max_steps`` is reached: what can be foreseen
    (``max_time`` and early stopping cannot)."""
    last_epoch = trainer.max_epochs is not None and 0 <= trainer.max_epochs <= trainer.current_epoch + 1
    return last_epoch or (trainer.max_steps is not None and 0 < trainer.max_steps <= trainer.global_step)


class RunCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` whose ``last.ckpt`` always holds the step the fit ended at.

    Lightning's checkpoints come at validation and epoch ends (or ``every_n_train_steps``),
    so a fit that ends between them loses every step since: ``max_steps`` reached between two
    ``val_check_interval`` validations, or Ctrl-C, SIGTERM or a crash mid-epoch. When the
    fit ends, and when it is stopped (Lightning's ``on_exception``), this writes the state at
    that step (weights, optimizers, loops, step count) over ``last.ckpt``, through a
    temporary file so a failed write cannot destroy the previous one; ``--ckpt_path
    .../last.ckpt`` resumes from there.

    With several processes it saves a stopped run only for Ctrl-C and SIGTERM, which every
    rank receives: saving takes a barrier, and a crash on one rank would leave the others
    waiting on it.

    Epochs of a small model take a fraction of a second, and two checkpoint files per epoch
    (``epoch=N-step=M.ckpt`` and ``last.ckpt``) cost more than the epoch itself. So without a
    monitored metric (``--checkpoint.monitor``, whose best must be judged at every validation)
    and with Lightning's defaults otherwise (one checkpoint kept, every epoch), an epoch's
    checkpoint is written only once ``min_seconds_between_saves`` have passed since the last
    one (or since training started), and always at the last epoch and at the end of the fit.
    Ctrl-C, SIGTERM and crashes still save (above); only a hard kill (SIGKILL, power) can lose
    up to that many seconds. ``--checkpoint.save_top_k -1`` (keep every epoch's) or ``monitor``
    saves every epoch as Lightning does.
    """

    min_seconds_between_saves: float = 60.0
    _last_save_time: float | None = None
    _fitting = True

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        self._fitting = stage == "fit"

    def load_state_dict(self, state_dict: dict) -> None:
        # `zoo validate/test/predict --ckpt_path` writes no checkpoints, so the fit's top-k bookkeeping has nothing
        # to do. A resumed fit writes into its own new run folder, by design, so Lightning keeps only the old
        # best_model_path and warns at every resume that "the dirpath has changed": the new folder's top-k starts
        # afresh, which is what a new folder means.
        if not self._fitting:
            return
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The dirpath has changed")
            super().load_state_dict(state_dict)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        self._last_save_time = time.monotonic()
        # With --checkpoint.every_n_train_steps and manual optimization (the GANs) Lightning warns at every save,
        # with a code sample, that the checkpoint holds the weights after the step: which is what step=N means
        # here (the state after N generator updates), and what a resume continues from. Filtered once per fit,
        # not around every batch (entering catch_warnings resets which warnings have been shown once).
        warnings.filterwarnings("ignore", message="Using ModelCheckpoint with manual optimization")

    _deferred = False  # an epoch's checkpoint was put off and nothing has been written since

    _epoch_of_last_step = 0

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch,
                           batch_idx: int) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        self._epoch_of_last_step = trainer.current_epoch

    def _save_checkpoint(self, trainer: L.Trainer, filepath: str) -> None:
        super()._save_checkpoint(trainer, filepath)
        self._last_save_time, self._deferred = time.monotonic(), False

    def _epoch_save_deferred(self, trainer: L.Trainer) -> bool:
        """True when this epoch's checkpoint can wait: soon after the last, not the last epoch, nothing monitored."""
        if self.monitor is not None or self.save_top_k != 1 or self._last_save_time is None:
            return False
        if time.monotonic() - self._last_save_time >= self.min_seconds_between_saves:
            return False
        if in_last_epoch(trainer) or trainer.should_stop:
            return False
        self._deferred = True
        return True

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self._epoch_save_deferred(trainer):
            super().on_train_epoch_end(trainer, pl_module)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self._epoch_save_deferred(trainer):
            super().on_validation_end(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.fast_dev_run:  # Lightning's smoke test writes no checkpoint; neither does the zoo's last save
            return
        if self._deferred and self.dirpath is not None:  # the put-off checkpoint, at the step the fit ended at
            candidates = self._monitor_candidates(trainer)
            # Named by the epoch of the last step: a fit that stops mid-epoch has counted that epoch done by now.
            candidates["epoch"] = torch.tensor(self._epoch_of_last_step)
            self._save_topk_checkpoint(trainer, candidates)
            self._write_last(trainer)
            return
        # The parent's own record of the step it last wrote; equal when the fit ended on a checkpoint.
        if self.save_last and self.dirpath is not None and self._last_global_step_saved != trainer.global_step:
            self._write_last(trainer)  # also covers the parent's case below: no last.ckpt written yet
        else:
            super().on_train_end(trainer, pl_module)

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        every_rank_stops = isinstance(exception, (KeyboardInterrupt, SIGTERMException))
        if (trainer.state.fn != TrainerFn.FITTING or not self.save_last or self.dirpath is None
                or trainer.global_step == 0 or trainer.sanity_checking or trainer.fast_dev_run
                or (trainer.world_size > 1 and not every_rank_stops)):
            return
        try:
            last = self._write_last(trainer)
        except Exception as save_error:  # noqa: BLE001  (the original exception is the one the user must see)
            rank_zero_warn(f"could not save the interrupted run to {self.dirpath}: {save_error}")
            return
        rank_zero_info(f"Stopped at step {trainer.global_step}; saved {last}. Resume with --ckpt_path {last}")

    def _write_last(self, trainer: L.Trainer) -> Path:
        last = Path(self.dirpath) / f"{self.CHECKPOINT_NAME_LAST}{self.FILE_EXTENSION}"
        partial = last.with_name(last.name + ".partial")
        trainer.save_checkpoint(partial, weights_only=self.save_weights_only)
        if trainer.is_global_zero:
            os.replace(partial, last)
        self.last_model_path = str(last)
        self._last_global_step_saved = trainer.global_step
        return last


# The metrics a closing summary shows, in this order, and which way is better.
SUMMARY_METRICS = {"val/fid": min, "val/kid": min, "val/loss": min, "val/psnr": max, "val/ssim": max,
                   "val/cycle_l1": min, "val/l1": min}


def next_commands(model: L.LightningModule, checkpoint: str, data_flags: str) -> list[str]:
    """What a user runs next with this checkpoint, by what the model can do."""
    commands = []
    if isinstance(model, Generation):
        commands.append(f"zoo sample --ckpt {checkpoint} -n 64 --out samples.png")
    if isinstance(model, Encoding):
        commands.append(f"zoo encode --ckpt {checkpoint} {data_flags} --out latents.npy")
    if isinstance(model, AnomalyScoring):
        commands.append(f"zoo score --ckpt {checkpoint} {data_flags} --out scores.csv")
    if isinstance(model, Reconstruction):
        commands.append(f"zoo reconstruct --ckpt {checkpoint} --input MY_IMAGES --out reconstructed")
    if isinstance(model, Translation):
        commands.append(f"zoo translate --ckpt {checkpoint} --input MY_IMAGES --out translated")
    return commands


class RunSummary(L.Callback):
    """When a fit ends: the run folder, the last and best validation metrics, the checkpoint, the next commands.

    Written as Lightning's info lines (rank 0), so ``--quiet`` leaves it out with them.
    """

    def __init__(self) -> None:
        self.history: dict[str, list[tuple[int, float]]] = {}

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != TrainerFn.FITTING:
            return
        for key in SUMMARY_METRICS:
            if key in trainer.callback_metrics:
                self.history.setdefault(key, []).append((trainer.current_epoch,
                                                         float(trainer.callback_metrics[key])))

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        checkpoint = trainer.checkpoint_callback.last_model_path if trainer.checkpoint_callback else ""
        if not checkpoint:
            return
        epochs, steps = trainer.current_epoch, trainer.global_step
        lines = [f"zoo: fit ended after {epochs} epoch{'s' * (epochs != 1)}, {steps} step{'s' * (steps != 1)}; "
                 f"run folder {Path(checkpoint).parent.parent}"]
        for key, better in SUMMARY_METRICS.items():
            if key in self.history:
                best_epoch, best = better(self.history[key], key=lambda point: point[1])
                lines.append(f"  {key:<13} last {self.history[key][-1][1]:.4g}   best {best:.4g} (epoch {best_epoch})")
        lines.append(f"  checkpoint    {checkpoint}")
        commands = next_commands(pl_module, checkpoint, self._data_flags(trainer))
        if commands:
            lines.append("  next:")
            lines += [f"    {command}" for command in commands]
        rank_zero_info("\n".join(lines))

    @staticmethod
    def _data_flags(trainer: L.Trainer) -> str:
        from zoo import registry

        datamodule = trainer.datamodule
        name = registry.name_of(type(datamodule), "datamodule") if datamodule is not None else None
        if name is None:
            return "--data DATA"
        root = getattr(datamodule, "root", None)
        return f"--data {name}" + (f" --data.root {root}" if root else "")


class GeneratorEMA(EMAWeightAveraging):
    """An exponential moving average of the generator's weights (and batch-norm statistics), for sampling.

    Yazıcı et al., "The Unusual Effectiveness of Averaging in GAN Training", ICLR 2019 (and Karras et
    al.'s ProGAN/StyleGAN): the averaged generator, ``decay`` per generator step, scores a better FID
    than the last iterate, which oscillates around the game's equilibrium. Lightning's
    ``EMAWeightAveraging`` does the averaging, the swap for validation, the checkpoints (their
    ``state_dict`` holds the averaged weights, so ``zoo sample`` and ``load_from_checkpoint`` get them;
    the trained ones sit under ``current_model_state`` and a resumed fit trains on from those) and the
    copy into the model when ``fit`` ends. It averages the whole LightningModule, so everything but
    ``generator`` is set back to the trained weights after each update: the discriminator stays the
    one being trained, and validation judges the averaged generator with it.

    In a config: ``trainer: {callbacks: [{class_path: zoo.callbacks.GeneratorEMA, init_args: {decay: 0.99}}]}``.
    """

    def __init__(self, decay: float = 0.999, update_starting_at_step: int | None = None) -> None:
        """
        Args:
            decay: weight of the average at each generator step; 1 - decay is the new weights' (0.99 averages
                over about the last 100 steps).
            update_starting_at_step: generator step from which the average is updated (it starts as a copy).
        """
        if not 0.0 < decay < 1.0:
            raise ZooError(f"GeneratorEMA decay must be between 0 and 1, got {decay}")
        super().__init__(decay=decay, update_starting_at_step=update_starting_at_step)

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if not isinstance(getattr(pl_module, "generator", None), torch.nn.Module):
            raise ZooError(f"GeneratorEMA averages a `generator` network; {type(pl_module).__name__} has none")
        super().setup(trainer, pl_module, stage)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch,
                           batch_idx: int) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        if self._average_model is not None:
            current = dict(itertools.chain(pl_module.named_parameters(), pl_module.named_buffers()))
            averaged = itertools.chain(self._average_model.module.named_parameters(),
                                       self._average_model.module.named_buffers())
            with torch.no_grad():
                for name, value in averaged:
                    if not name.startswith("generator."):
                        value.copy_(current[name])
