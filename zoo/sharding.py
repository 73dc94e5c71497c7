"""FSDP for the families that step one optimizer per network (every GAN, pix2pix, CycleGAN).

Lightning's ``FSDPStrategy`` wraps the whole ``LightningModule`` in one FSDP root and the
networks inside it as nested units. A manual-optimization family calls its networks
directly in ``training_step`` and returns no loss, so the root's forward output never
reaches a backward pass: torch's FSDP then never runs the root's end-of-backward callback,
which is what returns each unit to its idle state (and, on GPUs, waits for the gradient
reduction stream). Units the validation does not run (the discriminators) stay mid-backward,
and saving the checkpoint fails: on CPU (torch 2.14) in ``state_dict`` ("Expects the handle
training to be IDLE but got HandleTrainingState.BACKWARD_POST"), on an H200 (torch 2.11) in
``optim_state_dict`` with a KeyError.

:class:`NetworkFSDPStrategy` makes each network its own FSDP root instead (the auto-wrap
policy still shards inside it, e.g. per residual block): every backward then starts from the
root it ran through, and the optimizers, each over its own networks, see only their roots'
parameters. Checkpoints keep the full, unsharded state dict of the plain model, which a
single-process run loads. On the CPU it passes ``device_id=cpu`` to FSDP (gloo), which
Lightning's own strategy does not allow; that is how the tests run it.

On the CPU torch's ``optim_state_dict`` (2.14) gathers every state of a flat parameter (Adam's
``exp_avg``, then ``exp_avg_sq``) into one reused buffer and "offloads" the views with
``.cpu()``, which copies only from a GPU: every saved moment would be the last one gathered.
The strategy copies them out on the CPU (:meth:`NetworkFSDPStrategy.optimizer_state`).
"""

from __future__ import annotations

from typing import Any
from unittest import mock

import torch
from lightning.fabric.strategies.fsdp import _move_torchmetrics_to_device, _setup_activation_checkpointing
from lightning.pytorch.strategies import FSDPStrategy
from torch import nn

from zoo.errors import ZooError


class NetworkFSDPStrategy(FSDPStrategy):
    """Lightning's FSDPStrategy with one FSDP root per network of the LightningModule (its children with parameters).

    Takes the same arguments as ``FSDPStrategy`` (``auto_wrap_policy``, ``sharding_strategy``,
    ``state_dict_type``, ...). The zoo's CLI uses it in place of ``FSDPStrategy`` for
    manual-optimization families; from the Python API pass it as ``Trainer(strategy=...)``.
    """

    def _setup_model(self, model: nn.Module) -> nn.Module:
        from torch.distributed.fsdp import FullyShardedDataParallel

        if any(isinstance(module, FullyShardedDataParallel) for module in model.modules()):
            return super()._setup_model(model)  # wrapped by the user (configure_model): left as it is
        loose = [name for name, _ in model.named_parameters(recurse=False)]
        if loose:
            raise ZooError(f"{type(model).__name__} holds parameters outside its networks ({', '.join(loose)}): "
                           "FSDP per network would leave them unsynchronised; move them into a submodule")
        # CUDA: the device index, as Lightning passes it; CPU: the device itself, without which FSDP asks for an
        # accelerator.
        device_id = self.root_device if self.root_device.type == "cpu" else self.root_device.index
        for name, network in list(model.named_children()):
            if next(network.parameters(), None) is None:
                continue  # metrics and other parameter-free children
            setattr(model, name, FullyShardedDataParallel(
                module=network, cpu_offload=self.cpu_offload, mixed_precision=self.mixed_precision_config,
                sharding_strategy=self.sharding_strategy, device_id=device_id, **self.kwargs))
        _move_torchmetrics_to_device(model, self.root_device)
        _setup_activation_checkpointing(model, self._activation_checkpointing_kwargs)
        return model

    def optimizer_state(self, optimizer) -> dict[str, Any]:
        if self.root_device.type != "cpu":
            return super().optimizer_state(optimizer)
        from torch.distributed.fsdp import _optim_utils

        unflatten = _optim_utils._unflatten_orig_param_states

        def unflatten_copies(fsdp_param_info, output_states, state_name, *args, **kwargs):
            for states in output_states.values():  # views of the buffer the next state will be gathered into
                if torch.is_tensor(states.get(state_name)):
                    states[state_name] = states[state_name].clone()
            return unflatten(fsdp_param_info, output_states, state_name, *args, **kwargs)

        with mock.patch.object(_optim_utils, "_unflatten_orig_param_states", unflatten_copies):
            return super().optimizer_state(optimizer)
