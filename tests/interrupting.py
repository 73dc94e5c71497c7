"""A callback that stops training the way a user's run gets stopped: a crash or Ctrl-C, at a chosen step."""

from __future__ import annotations

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
