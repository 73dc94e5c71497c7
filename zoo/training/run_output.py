"""Where a run writes: ``runs/<model>/version_N/`` with its config and checkpoints, the loggers, the console.

One folder per family and a fresh version per run (``runs/vae/version_3/{config.yaml,metrics.csv,...}``):
the CSV logger by default, and W&B's files beside every other run's, not in the working directory.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

import yaml
from lightning.pytorch.callbacks import BasePredictionWriter
from lightning.pytorch.cli import LightningArgumentParser, SaveConfigCallback

from zoo import registry
from zoo.errors import ZooError

RUNS_DIR = "runs"
# The W&B project of a run that names none (W&B's WANDB_PROJECT variable wins), not Lightning's "lightning_logs".
WANDB_PROJECT = "zoo"


def run_directory(trainer) -> Path:
    """The run's own folder, where ModelCheckpoint puts ``checkpoints/``: ``<save_dir>/<name>/<version>``."""
    logger = trainer.logger
    if logger is None:
        return Path(trainer.default_root_dir)
    if getattr(logger, "log_dir", None):  # CSV, TensorBoard
        return Path(logger.log_dir)
    version = logger.version if isinstance(logger.version, str) else f"version_{logger.version}"
    return Path(logger.save_dir or trainer.default_root_dir) / str(logger.name) / version


def run_name(model_class: type | None) -> str:
    """The folder of a model's runs under ``runs/`` (and its W&B run name): its registry name, else ``model``."""
    return (registry.name_of(model_class, "model") if model_class else None) or "model"


def default_loggers(trainer_config: Any, model_class: type | None) -> None:
    """Loggers the user did not place write under the runs folder: the default CSV logger and W&B's files.

    A W&B run with no project goes to the project ``zoo``, and one with no name is named after its model, so the
    project's run list tells a ``dcgan`` run from a ``vae`` one (W&B's own variables win over both).
    """
    logger = trainer_config.get("logger")
    name = run_name(model_class)
    if str(getattr(logger, "class_path", "")).endswith("WandbLogger"):
        if logger.init_args.get("save_dir") == ".":
            logger.init_args.save_dir = trainer_config.get("default_root_dir") or RUNS_DIR
        if not logger.init_args.get("project") and not os.environ.get("WANDB_PROJECT"):
            logger.init_args.project = WANDB_PROJECT
        if not logger.init_args.get("name") and not os.environ.get("WANDB_NAME"):
            logger.init_args.name = name
    if logger in (None, True):
        from jsonargparse import Namespace

        trainer_config.logger = Namespace(
            class_path="lightning.pytorch.loggers.CSVLogger",
            init_args=Namespace(save_dir=trainer_config.get("default_root_dir") or RUNS_DIR, name=name),
        )


def keep_preemption_checkpoints_apart(trainer_config: Any, model_class: type | None) -> None:
    """Under SLURM, Lightning's pre-emption checkpoints go to a folder of this job's own: ``runs/<model>/slurm-<id>``.

    On SLURM's requeue signal (``#SBATCH --signal=SIGUSR1@90``) Lightning saves ``hpc_ckpt_N.ckpt``
    into ``default_root_dir`` and requeues the job; any later fit under SLURM without ``--ckpt_path``
    resumes the newest one it finds there. In the zoo's shared ``runs/`` that was any model's, from any
    earlier job: a VAE job loaded a pre-empted GAN's weights (a crash), and a new experiment resumed a
    finished one. The requeued job keeps its id, so it finds its own folder again, and no other job does.
    Called after the loggers got their folders from ``default_root_dir`` (``runs/<model>/version_N``).
    """
    import os

    from lightning.fabric.plugins.environments import SLURMEnvironment
    from lightning.pytorch.utilities import rank_zero_info

    if not SLURMEnvironment.detect() or "SLURM_JOB_ID" not in os.environ:
        return
    array_job = os.environ.get("SLURM_ARRAY_JOB_ID")  # an array task's own id, as Lightning's requeue names it
    job = f"{array_job}_{os.environ.get('SLURM_ARRAY_TASK_ID')}" if array_job else os.environ["SLURM_JOB_ID"]
    name = run_name(model_class)
    root = Path(trainer_config.get("default_root_dir") or RUNS_DIR)
    if root.name.startswith("slurm-") and root.parent.name == name:  # the config.yaml of a SLURM run, run again
        root = root.parent.parent
    folder = root / name / f"slurm-{job}"
    trainer_config.default_root_dir = str(folder)
    rank_zero_info(f"zoo: SLURM job {job}: pre-emption checkpoints (hpc_ckpt_N.ckpt) go to {folder}; "
                   "the requeued job resumes from there")


def resolve_last_checkpoint(config: Any, subcommand: str | None, model_class: type | None) -> None:
    """``--ckpt_path last``: the newest ``last.ckpt`` among this model's runs (``runs/<name>/version_*``).

    Lightning's ``last`` looks only in the new run's own checkpoint folder, which is always empty
    because every run gets a fresh ``version_N``; so a fit would start over, after a warning whose
    hint (``save_last=True``) is already set. Here it means what a requeued or restarted job wants:
    resume this model's latest run if there is one, else (``fit``) train from the start. An
    evaluation with nothing to evaluate is refused: it would score untrained weights. Only checkpoints
    of ``model_class`` count: a W&B project folder holds the runs of every model logged to it.
    """
    from lightning.pytorch.utilities import rank_zero_info

    logger = config.trainer.get("logger")
    init_args = getattr(logger, "init_args", None) or {}
    folder = Path(init_args.get("save_dir") or config.trainer.get("default_root_dir") or RUNS_DIR)
    if str(getattr(logger, "class_path", "")).endswith("WandbLogger"):  # its runs sit under the project's name
        name = init_args.get("project") or os.environ.get("WANDB_PROJECT")
    else:
        name = init_args.get("name")
    runs = folder / name if name else folder
    from zoo.checkpoints import last_checkpoints

    newest = next((path for path in reversed(last_checkpoints(runs)) if holds_a(model_class, path)), None)
    if newest is not None:
        config.ckpt_path = str(newest)
        rank_zero_info(f"zoo: --ckpt_path last: {newest}, the newest last.ckpt under {runs}")
        return
    model_name = registry.display_name(model_class, "model") if model_class else "model"
    if subcommand != "fit":
        raise ZooError(f"--ckpt_path last: no last.ckpt of any {model_name} run under {runs} to {subcommand}; "
                       "train one first (zoo fit) or give a checkpoint file")
    config.ckpt_path = None
    rank_zero_info(f"zoo: --ckpt_path last: no last.ckpt of any {model_name} run under {runs} yet; "
                   "training from the start")


def holds_a(model_class: type | None, checkpoint: Path) -> bool:
    """Whether ``checkpoint`` was written by a fit of ``model_class`` (any, when that is not known).

    Memory-mapped: only the hyper-parameters are read, not gigabytes of weights.
    """
    import torch

    if model_class is None:
        return True
    try:
        stored = torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # a file being written, or not a checkpoint: not one to resume
        return False
    return stored.get("hyper_parameters", {}).get("_class_path") == registry.class_path_of(model_class)


def finish_wandb_runs(trainer) -> None:
    """Close W&B runs cleanly: an offline run directory is complete when the command returns."""
    from lightning.pytorch.loggers import WandbLogger

    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger) and logger._experiment is not None:
            logger.experiment.finish()


class RunConfigCallback(SaveConfigCallback):
    """Save the resolved config beside the run's checkpoints, and hand it to W&B as the run config.

    Lightning's default writes ``config.yaml`` to ``trainer.log_dir``, which for W&B is the
    shared save directory, so runs would overwrite each other's config.
    """

    def __init__(self, parser: LightningArgumentParser, config: Any, **kwargs: Any) -> None:
        super().__init__(parser, config, save_to_log_dir=False, **kwargs)

    def save_config(self, trainer, pl_module, stage: str) -> None:  # rank 0 only
        run_dir = run_directory(trainer)
        run_dir.mkdir(parents=True, exist_ok=True)
        self.parser.save(self.config, str(run_dir / self.config_filename), skip_none=False, overwrite=True,
                         multifile=self.multifile)
        from lightning.pytorch.loggers import WandbLogger

        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                resolved = yaml.safe_load(self.parser.dump(self.config, skip_none=False))
                logger.experiment.config.update({"zoo": resolved}, allow_val_change=True)

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        """A run that failed before its first step leaves no folder behind, so the next run keeps its number."""
        if trainer.global_step > 0 or not trainer.is_global_zero:
            return
        run_dir = run_directory(trainer)
        if not run_dir.is_dir() or any(run_dir.rglob("*.ckpt")):
            return
        shutil.rmtree(run_dir, ignore_errors=True)
        # runs/<model>/ and runs/ too, when this run made them: up to the folder the logger writes under.
        save_dir = Path(getattr(trainer.logger, "save_dir", None) or trainer.default_root_dir).resolve()
        for folder in run_dir.resolve().parents:
            if not folder.is_relative_to(save_dir) or not folder.is_dir() or any(folder.iterdir()):
                break
            folder.rmdir()


class PredictionWriter(BasePredictionWriter):
    """``zoo predict`` keeps what it predicts: one file in the run's folder, rows in the order of the data.

    ``predictions.pt`` holds what the model's ``predict_step`` returns for every image of the
    predict split (the test split): an autoencoder's or VAE's latent codes, pix2pix's or CycleGAN's
    translations, concatenated along the first dimension, so row ``i`` belongs to image ``i``. Under
    DDP each process predicts its own share; rank 0 gathers them, puts them back in the data's order
    and writes the one file. A ``predict_step`` that returns something other than a tensor is kept as
    the list of its per-batch outputs. ``--predictions.filename`` names the file.
    """

    def __init__(self, filename: str = "predictions.pt") -> None:
        super().__init__(write_interval="batch")
        self.filename = filename
        self._outputs: list[Any] = []
        self._indices: list[list[int]] = []

    def on_predict_epoch_start(self, trainer, pl_module) -> None:
        self._outputs, self._indices = [], []

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx: int,
                           dataloader_idx: int) -> None:
        import torch
        from lightning.pytorch.utilities import move_data_to_device

        self._outputs.append(move_data_to_device(prediction, torch.device("cpu")))
        self._indices.append(list(batch_indices or []))

    def on_predict_epoch_end(self, trainer, pl_module) -> None:
        import torch
        from lightning.pytorch.utilities import rank_zero_info

        outputs, indices = self._outputs, self._indices
        if trainer.world_size > 1:
            gathered = [None] * trainer.world_size
            torch.distributed.all_gather_object(gathered, (outputs, indices))
            outputs = [output for rank_outputs, _ in gathered for output in rank_outputs]
            indices = [batch for _, rank_indices in gathered for batch in rank_indices]
        if not trainer.is_global_zero:
            return
        predictions: Any = outputs
        if outputs and all(isinstance(output, torch.Tensor) and output.dim() > 0 for output in outputs):
            predictions = torch.cat(outputs)
            order = torch.tensor([index for batch in indices for index in batch], dtype=torch.long)
            if len(order) == len(predictions):
                # A padded distributed sampler (FSDP) repeats a few images: keep each image's first row.
                order, position = torch.sort(order, stable=True)
                first = torch.ones_like(order, dtype=torch.bool)
                first[1:] = order[1:] != order[:-1]
                predictions = predictions[position[first]]
        path = run_directory(trainer) / self.filename
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(predictions, path)
        described = (f"{tuple(predictions.shape)} predictions" if isinstance(predictions, torch.Tensor)
                     else f"predictions of {len(predictions)} batches")
        rank_zero_info(f"zoo: wrote {described} to {path} (torch.load reads them)")


class LightningAdverts(logging.Filter):
    """Drop Lightning's lines that help no zoo user: tips to install other services, TPU availability."""

    NOISE = ("💡 Tip:", "TPU available:", "HPU available:")

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.NOISE)


def hide_lightning_adverts() -> None:
    """Filter Lightning's info lines, which all go through one logger (``rank_zero_info``), once per process."""
    rank_zero_log = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if not any(isinstance(existing, LightningAdverts) for existing in rank_zero_log.filters):
        rank_zero_log.addFilter(LightningAdverts())
