"""Global contrastive loss on 2 CPU processes (gloo, one process per rank) equals the 1-process loss on the same global batch, and
the DDP-averaged gradients equal the 1-process gradients (equal and unequal per-rank batch sizes)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from protalign.distributed import all_gather_with_grad, is_distributed

pytestmark = pytest.mark.numerics

WORKER = Path(__file__).with_name("dist_clip_worker.py")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
@pytest.mark.skipif(
    not dist.is_available() or not dist.is_gloo_available(), reason="torch.distributed gloo missing"
)
def test_two_gloo_ranks_equal_one_process(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    port = str(_free_port())
    ranks = []
    for rank in range(2):
        command = [sys.executable, str(WORKER), str(rank), port, str(out)]
        ranks.append(
            subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        )
    logs = []
    for proc in ranks:
        try:
            logs.append(proc.communicate(timeout=300)[0])
        except subprocess.TimeoutExpired:
            for other in ranks:
                other.kill()
            raise
    assert all(proc.returncode == 0 for proc in ranks), "\n".join(log[-3000:] for log in logs)
    report = json.loads(out.read_text())
    for sizes in ("[4, 4]", "[3, 5]"):
        assert report[sizes]["loss"] == pytest.approx(report[sizes]["reference"], rel=1e-12)
    assert report["torch_all_gather_grad_max"] > 0


def test_single_process_gather_is_identity() -> None:
    assert not is_distributed()
    x = torch.randn(3, 2)
    assert all_gather_with_grad(x) is x
