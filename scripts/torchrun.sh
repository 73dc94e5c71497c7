#!/usr/bin/env bash
# Multi-node training with torchrun: run this same script on every node.
#   NODES=2 GPUS_PER_NODE=8 NODE_RANK=0 HEAD=node0.example scripts/torchrun.sh --model dcgan --data mnist
# Everything after the script name goes to `zoo fit`. No strategy flag: the zoo picks DDP's mode.
set -euo pipefail
NODES=${NODES:-1}
GPUS_PER_NODE=${GPUS_PER_NODE:-1}
NODE_RANK=${NODE_RANK:-0}
HEAD=${HEAD:-127.0.0.1}
PORT=${PORT:-29500}
exec torchrun --nnodes "$NODES" --nproc-per-node "$GPUS_PER_NODE" --node-rank "$NODE_RANK" \
    --master-addr "$HEAD" --master-port "$PORT" \
    -m zoo.cli fit --trainer.num_nodes "$NODES" --trainer.devices "$GPUS_PER_NODE" "$@"
