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

from protalign.distributed import all_gather_with_grad, is_distributed, vector_scalars

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


class _Scaled(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inner = torch.nn.Linear(2, 2)
        self.inner.scale = torch.nn.Parameter(torch.tensor(2.5))
        self.temperature = torch.nn.Parameter(torch.tensor(0.07), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x) * self.inner.scale / self.temperature


def test_vector_scalars_hold_1d_parameters_and_save_scalars() -> None:
    """0-d parameters become (1,) (DeepSpeed broadcasts them), the state dict still shows (and loads) scalars, and
    the model computes what the plain model computes."""
    torch.manual_seed(0)
    plain = _Scaled()
    x = torch.randn(3, 2)
    expected = plain(x)
    model = vector_scalars(_Scaled())
    model.load_state_dict(plain.state_dict())  # plain scalars load into (1,) parameters
    assert model.inner.scale.shape == (1,) and model.temperature.shape == (1,)
    assert model.inner.scale.requires_grad and not model.temperature.requires_grad
    assert all(p.dim() > 0 for p in model.parameters())
    state = model.state_dict()
    assert state["inner.scale"].shape == () and state["temperature"].shape == ()
    assert state.keys() == plain.state_dict().keys()
    torch.testing.assert_close(model(x), expected, rtol=0, atol=0)
    again = _Scaled()
    again.load_state_dict(state)  # and the plain model loads its state dict
    assert again.inner.scale.item() == 2.5
