"""The ``zoo`` command: LightningCLI for fit/validate/test/predict (:mod:`zoo.training`), and the
commands of :mod:`zoo.commands`, each imported only when it runs.

``zoo fit --model vae --data digits`` accepts registry names, Lightning class names and
full class paths. Every user-facing failure is a :class:`~zoo.errors.ZooError`, printed
by :func:`main` as one line (``zoo: error: ...``) with exit status 2: the one error path.
"""

from __future__ import annotations

import difflib
import importlib
import sys
import traceback
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from zoo.errors import ZooError

TRAINER_SUBCOMMANDS = ("fit", "validate", "test", "predict")


def _lazy(module: str, function: str) -> Callable[[Sequence[str]], Any]:
    """A command imported only when it runs, so `zoo list` does not pay for the others' imports."""
    return lambda argv: getattr(importlib.import_module(module), function)(argv)


COMMANDS: dict[str, Callable[[Sequence[str]], Any]] = {
    "list": _lazy("zoo.commands.listing", "command_list"),
    "info": _lazy("zoo.commands.info", "command_info"),
    "sample": _lazy("zoo.commands.sample", "command_sample"),
    "encode": _lazy("zoo.commands.encode", "command_encode"),
    "score": _lazy("zoo.commands.score", "command_score"),
    "reconstruct": _lazy("zoo.commands.reconstruct", "command_reconstruct"),
    "translate": _lazy("zoo.commands.translate", "command_translate"),
    "prepare": _lazy("zoo.commands.prepare", "command_prepare"),
    "new-plugin": _lazy("zoo.commands.new_plugin", "command_new_plugin"),
    "export": _lazy("zoo.commands.export", "command_export"),
}
# The training subcommands (TRAINER_SUBCOMMANDS) go to LightningCLI: zoo.training.cli.run_cli.


# What `zoo --help` lists: every command, the training ones first; each command has its own --help.
COMMAND_SUMMARIES = {
    "fit": "train: zoo fit --model NAME --data NAME [--trainer.* --model.* --data.* ...]",
    "validate": "evaluate a checkpoint on the validation split (--ckpt_path PATH)",
    "test": "evaluate a checkpoint on the test split (--ckpt_path PATH)",
    "predict": "run the model's predict_step over the test split; writes predictions.pt in the run folder",
    "list": "the registered models and datamodules (--check: exit 2 if a plugin is broken)",
    "info": "a model's or datamodule's card and hyper-parameters: zoo info NAME",
    "sample": "images from a generative checkpoint: zoo sample --ckpt PATH -n 64 --out grid.png|DIR/",
    "encode": "latent features of a dataset: zoo encode --ckpt PATH --data NAME --out latents.npy|.npz|.png",
    "score": "anomaly scores and decisions per input (AUROC/F1 with --normal-class K, maps with --maps DIR): "
             "zoo score --ckpt PATH --data NAME",
    "reconstruct": "reconstruct (denoise) a folder of images: zoo reconstruct --ckpt PATH --input DIR --out DIR "
                   "[--noise-std S]",
    "translate": "image-to-image with a pix2pix/CycleGAN checkpoint: zoo translate --ckpt PATH --input DIR --out DIR",
    "prepare": "write a datamodule in litdata's format for --data streaming: zoo prepare --data NAME --out DIR",
    "new-plugin": "scaffold a package that registers a model of your own",
    "export": "a checkpoint's inference graph as ONNX or TorchScript: zoo export --ckpt PATH --format onnx --out FILE",
}


def print_overview(file=sys.stdout) -> None:
    print("usage: zoo COMMAND [options]    (zoo COMMAND --help for a command's options)\n", file=file)
    width = max(map(len, COMMAND_SUMMARIES))
    for name, summary in COMMAND_SUMMARIES.items():
        print(f"  {name:<{width}}  {summary}", file=file)
    print("\n  --quiet (or ZOO_QUIET=1) before any command: no progress bars or info lines.", file=file)
    print("  --debug (or ZOO_DEBUG=1): a traceback with any error, for a bug report.", file=file)
    print("  Guide: docs/guide.md", file=file)


QUIET_TRAINER_FLAGS = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]


def quiet(argv: list[str]) -> list[str]:
    """``--quiet`` (or ZOO_QUIET=1): no progress bar, no model summary, no info lines; for CI logs."""
    import logging
    import os

    wanted = "--quiet" in argv or os.environ.get("ZOO_QUIET", "") not in ("", "0")
    argv = [token for token in argv if token != "--quiet"]
    if not wanted:
        return argv
    warnings.filterwarnings("ignore")
    if argv and argv[0] in TRAINER_SUBCOMMANDS:
        import lightning.pytorch  # noqa: F401  (it sets its logger to INFO on import: import first, then quiet it)

        for name in ("lightning.pytorch", "lightning.fabric"):
            logging.getLogger(name).setLevel(logging.WARNING)
        argv = [argv[0], *QUIET_TRAINER_FLAGS, *argv[1:]]  # flags the user gives later still win
    return argv


def _zoo_error_behind(error: BaseException) -> ZooError | None:
    """The ZooError an exception was raised from, if any (jsonargparse wraps errors of the classes it builds)."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, ZooError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def _one_line(message: str) -> str:
    """A ZooError raised in a DataLoader worker comes back holding the worker's traceback: keep its last line."""
    if "Original Traceback" not in message:
        return message
    last = message.strip().splitlines()[-1]
    return last.split("Error: ", 1)[1] if "Error: " in last else last


def _user_error(error: Exception) -> str | None:
    """The one line for an exception that is the user's to fix, or None for a bug (which keeps its traceback)."""
    cause = _zoo_error_behind(error)
    if cause is not None:  # raised in a model's or datamodule's __init__, wrapped by jsonargparse
        return _one_line(str(cause))
    # W&B refusing to start (no login, no network) is the user's set-up, not a bug: one line with the fix.
    if type(error).__module__.startswith("wandb") and type(error).__name__ == "UsageError":
        return (f"Weights & Biases: {str(error).strip().splitlines()[0]} "
                "(or set WANDB_MODE=offline to log locally and `wandb sync` later)")
    # An optimizer given from the command line or a config (`--model.optimizer_g.init_args.lr -1`) checks its
    # own arguments when the trainer builds it; torch's message names the value.
    frames = traceback.extract_tb(error.__traceback__)
    if isinstance(error, ValueError) and frames and "torch/optim/" in frames[-1].filename.replace("\\", "/"):
        return f"the optimizer refused its arguments: {str(error).strip()} (see the model's optimizer_* options)"
    return None


def _check_command(argv: list[str]) -> None:
    """An unknown command, in one line with the close matches, before LightningCLI's own usage text."""
    command = argv[0]
    if command.startswith("-") or command in COMMANDS or command in TRAINER_SUBCOMMANDS:
        return
    known = [*TRAINER_SUBCOMMANDS, *COMMANDS]
    close = difflib.get_close_matches(command, known, n=3, cutoff=0.6)
    suggestion = f"did you mean {', '.join(close)}? " if close else ""
    raise ZooError(f"unknown command '{command}'; {suggestion}(`zoo --help` lists the commands)")


def debug_wanted(argv: list[str]) -> tuple[bool, list[str]]:
    """``--debug`` anywhere (or ZOO_DEBUG=1): a traceback with every error, for bug reports."""
    import os

    wanted = "--debug" in argv or os.environ.get("ZOO_DEBUG", "") not in ("", "0")
    return wanted, [token for token in argv if token != "--debug"]


def main(argv: Sequence[str] | None = None) -> None:
    debug, argv = debug_wanted(list(sys.argv[1:] if argv is None else argv))
    argv = quiet(argv)
    if argv[:1] in (["--version"], ["-V"]):
        from zoo import __version__

        print(f"zoo {__version__}")
        raise SystemExit(0)
    if not argv or argv[0] in ("-h", "--help"):
        print_overview(sys.stdout if argv else sys.stderr)
        raise SystemExit(0 if argv else 2)
    try:
        _check_command(argv)
        if argv[0] in COMMANDS:
            COMMANDS[argv[0]](argv[1:])
        else:
            from zoo.training.cli import run_cli  # Lightning is imported only to train

            run_cli(argv)
    except Exception as error:
        message = _one_line(str(error)) if isinstance(error, ZooError) else _user_error(error)
        if message is None:
            raise
        if debug:
            traceback.print_exception(error, file=sys.stderr)
        print(f"zoo: error: {message}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
