"""Callbacks that stop training the way a user's run gets stopped: a crash, Ctrl-C or a signal, at a chosen step."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

import lightning as L


class StopAtStep(L.Callback):
    def __init__(self, step: int, how: Literal["crash", "ctrl-c"]) -> None:
        self.step, self.how = step, how

    def on_train_batch_end(self, trainer: L.Trainer, *args) -> None:
        if trainer.global_step >= self.step:
            if self.how == "crash":
                raise RuntimeError(f"simulated crash at step {trainer.global_step}")
            raise KeyboardInterrupt


class SignalAtStep(L.Callback):
    """Sends this process ``signal_name`` once, at ``step``: what SLURM sends ahead of a pre-emption."""

    def __init__(self, step: int, signal_name: str) -> None:
        self.step, self.signal_name = step, signal_name

    def on_train_batch_end(self, trainer: L.Trainer, *args) -> None:
        if trainer.global_step == self.step:
            import os
            import signal

            os.kill(os.getpid(), getattr(signal, self.signal_name))


class WaitForSignal(L.Callback):
    """At ``step``, tells the test it got there (``<folder>/rank<R>.reached``) and waits for the signal it will send.

    Waiting in Python keeps the process where a signal handler runs at once, so the test can
    stop the run at a known step with a real SIGTERM or SIGINT, as a scheduler or a user would.
    """

    def __init__(self, step: int, folder: str, timeout: float = 120.0) -> None:
        self.step, self.folder, self.timeout = step, Path(folder), timeout

    def on_train_batch_end(self, trainer: L.Trainer, *args) -> None:
        if trainer.global_step != self.step:
            return
        (self.folder / f"rank{trainer.global_rank}.reached").touch()
        deadline = time.monotonic() + self.timeout
        while not trainer.received_sigterm and time.monotonic() < deadline:
            time.sleep(0.05)  # SIGINT raises KeyboardInterrupt here; SIGTERM sets received_sigterm
