"""Start processes the way launchers and clusters do (torchrun, several nodes at once) and collect what they print."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def launch(commands: list[tuple[list[str], dict[str, str], Path]], timeout: int = 120) -> list[subprocess.CompletedProcess]:
    """Start every (argv, extra environment, working folder) at once, as a cluster's nodes would, and wait for all."""
    processes = []
    for argv, environment, cwd in commands:
        cwd.mkdir(parents=True, exist_ok=True)
        processes.append(subprocess.Popen(argv, cwd=cwd, env={**os.environ, **environment}, text=True,
                                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    try:
        outputs = [process.communicate(timeout=timeout)[0] for process in processes]
    finally:
        for process in processes:
            process.kill()
    return [subprocess.CompletedProcess(process.args, process.returncode, output)
            for process, output in zip(processes, outputs)]


def assert_all_exit_0(results: list[subprocess.CompletedProcess]) -> None:
    for rank, result in enumerate(results):
        assert result.returncode == 0, f"process {rank} exited {result.returncode}:\n{result.stdout[-3000:]}"


def torchrun(nodes: int, node_rank: int, processes_per_node: int, port: int) -> list[str]:
    return [str(Path(sys.executable).with_name("torchrun")), "--nnodes", str(nodes), "--node-rank", str(node_rank),
            "--nproc-per-node", str(processes_per_node), "--master-addr", "127.0.0.1", "--master-port", str(port),
            "-m", "zoo.cli"]
