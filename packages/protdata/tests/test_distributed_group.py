"""Process groups (protdata.distributed.group + collectives + shared_directory): the start-up handshake on a
rendezvous store, the exported launcher variables, and two real gloo ranks (two processes) whose collectives
agree with the values each rank put in, and an error of one rank in main_rank_first reaches every rank."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import threading
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import torch

from protdata.distributed import (
    LaunchEnv,
    LaunchError,
    all_reduce_max,
    all_reduce_sum,
    broadcast_object,
    export_launch_environment,
    gather_objects,
    startup_handshake,
)


def _handshake(failures: list[str | None]) -> list[str | None]:
    """Run the handshake of ``len(failures)`` ranks as threads on one in-memory store; each rank's error or None."""
    store = torch.distributed.HashStore()
    store.set_timeout(timedelta(seconds=20))
    out: list[str | None] = [None] * len(failures)

    def rank(r: int) -> None:
        try:
            startup_handshake(store, LaunchEnv("slurm", r, len(failures)), failures[r])
        except LaunchError as exc:
            out[r] = str(exc)

    threads = [threading.Thread(target=rank, args=(r,)) for r in range(len(failures))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def test_startup_handshake_names_the_failed_rank() -> None:
    assert _handshake([None, None, None]) == [None, None, None]
    got = _handshake([None, None, "/data/x: no such dataset"])
    assert got[0] == got[1] == "rank 2 failed at start-up: /data/x: no such dataset"
    assert got[2] == "/data/x: no such dataset"  # the failing rank gets its own error back


def test_exported_variables() -> None:
    env = {"RANK": "1", "WORLD_SIZE": "2", "MASTER_ADDR": "n1", "MASTER_PORT": "29400"}
    export_launch_environment(LaunchEnv("torchrun", 1, 2, 1, 2, "other", 1), env)
    assert env["MASTER_ADDR"] == "n1" and env["LOCAL_WORLD_SIZE"] == "2"  # torchrun's own variables are kept
    env = {}
    export_launch_environment(LaunchEnv("slurm", 3, 4, 1, 2, "gpu017", 15042), env)
    assert env == {
        "RANK": "3",
        "WORLD_SIZE": "4",
        "LOCAL_RANK": "1",
        "LOCAL_WORLD_SIZE": "2",
        "MASTER_ADDR": "gpu017",
        "MASTER_PORT": "15042",
    }
    with pytest.raises(LaunchError, match="set MASTER_ADDR"):
        export_launch_environment(LaunchEnv("mpi", 0, 8, 0, 4, None), {})


def test_collectives_of_one_process_are_the_identity() -> None:
    # no group, or a one-process group (an app run earlier in this process keeps one)
    assert not torch.distributed.is_initialized() or torch.distributed.get_world_size() == 1
    assert broadcast_object({"a": 1}) == {"a": 1} and gather_objects(3) == [3]
    assert all_reduce_sum([1.5, 2.0], torch.device("cpu")) == [1.5, 2.0]
    assert all_reduce_max(-1.0, torch.device("cpu")) == -1.0


_WORKER = """
import json, os, sys
from datetime import timedelta
from pathlib import Path
import torch
from protdata.distributed import (LaunchError, all_reduce_max, all_reduce_sum, average_buffers, broadcast_object,
    check_shared_directory, detect_launch, export_launch_environment, gather_objects, init_process_group,
    main_rank_first, destroy_process_group)
from protdata.errors import DatasetError
launch = detect_launch(os.environ)
export_launch_environment(launch)
init_process_group(launch, "gloo", timeout=timedelta(minutes=2), startup=timedelta(minutes=2))
r = launch.rank
out = {{
    "sum": all_reduce_sum([r + 0.25, 10.0 * r], torch.device("cpu")),
    "max": all_reduce_max(float(r) - 5.0, torch.device("cpu")),
    "bcast": broadcast_object(f"from {{r}}"),
    "gather": gather_objects([r]),
}}
torch.manual_seed(0)  # the same initial model on both ranks, different data on each
bn = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Sequential(torch.nn.BatchNorm2d(2)))
bn[:2](torch.randn(6, 3, generator=torch.Generator().manual_seed(10 + r)) * (1 + r) + r)
bn[2](torch.randn(5, 2, 3, 3, generator=torch.Generator().manual_seed(20 + r)) - 2 * r)
stats = lambda: {{k: v.tolist() for k, v in bn.state_dict().items() if "running" in k or "num_batches" in k}}
out["bn_before"] = stats()
out["bn_averaged"] = average_buffers(bn)
out["bn_after"] = stats()
check_shared_directory(Path(sys.argv[1]), wait_s=1.0)
out["shared"] = sorted(p.name for p in Path(sys.argv[1]).iterdir())
try:
    check_shared_directory(Path(sys.argv[2 + r]), wait_s=1.0)
except LaunchError as exc:
    out["own"] = str(exc)
order = []
out["first"] = main_rank_first(lambda: order.append(r) or f"data {{r}}")
def bad():
    if r == 1:
        raise DatasetError("/x/ds", "no such dataset")
    return 0
try:
    main_rank_first(bad)
except (LaunchError, DatasetError) as exc:
    out["bad"] = type(exc).__name__ + ": " + str(exc)
print(json.dumps(out), flush=True)
destroy_process_group()
"""


@pytest.mark.slow
def test_two_gloo_ranks(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dirs = [tmp_path / name for name in ("shared", "node0", "node1")]
    for d in dirs:
        d.mkdir()
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(_WORKER.format()))
    procs = []
    for r in range(2):  # what `srun -n 2` on one node sets
        env = {"PATH": "/usr/bin:/bin", "SLURM_PROCID": str(r), "SLURM_LOCALID": str(r), "SLURM_NTASKS": "2"}
        env |= {"SLURM_LAUNCH_NODE_IPADDR": "127.0.0.1", "MASTER_PORT": str(port), "OMP_NUM_THREADS": "1"}
        cmd = [sys.executable, str(script), *map(str, dirs)]
        procs.append(
            subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        )
    results = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    # average_buffers: both ranks hold the mean of the two ranks' running statistics (float64 reference)
    before = [got["bn_before"] for got in results]
    assert before[0]["1.running_mean"] != before[1]["1.running_mean"]  # the ranks saw different data
    for got in results:
        assert got["bn_averaged"] == 4  # running_mean / running_var of both norms
        for key, value in got["bn_after"].items():
            if key.endswith("num_batches_tracked"):
                assert value == before[0][key] == 1  # kept
            else:
                mean = (np.asarray(before[0][key], np.float64) + np.asarray(before[1][key], np.float64)) / 2
                np.testing.assert_allclose(np.asarray(value, np.float64), mean, rtol=1e-6, atol=1e-7)
    for r, got in enumerate(results):
        assert got["sum"] == [0.25 + 1.25, 0.0 + 10.0] and got["max"] == -4.0
        assert got["bcast"] == "from 0" and got["gather"] == [[0], [1]]
        assert got["first"] == f"data {r}"
        # rank 0 hears of rank 1's error; rank 1 stops with its own
        assert (
            got["bad"]
            == ["LaunchError: rank 1: /x/ds: no such dataset", "DatasetError: /x/ds: no such dataset"][r]
        )
        assert got["shared"] == [] or r == 1  # rank 0 removed its token (rank 1 may list before it does)
        # each rank has its own directory: both ranks get the same line naming rank 1, its host and its path
        assert got["own"].startswith("rank 1 (") and "does not see the run directory" in got["own"]
        assert str(dirs[2]) in got["own"], r
