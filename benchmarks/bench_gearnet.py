"""GearNet (6 × 512, 7 relations) forward + backward on CPU: protenc-struct vs a TorchDrug-style reference.

The reference is TorchDrug's own compute path transcribed into plain torch (``GeometricRelationalGraphConv.
message_and_aggregate``: a sparse COO adjacency ``(N, N·R)`` and ``torch.sparse.mm(adjacency.t(), input)`` per
layer, then ``linear`` + ``self_loop`` → BN → ReLU, short-cut, outer BN, concat, sum readout), run in the same
process on the same graphs with the same parameters (outputs are checked to agree). TorchDrug itself cannot be
installed here; its time quoted in issue 4 (451 ms per 1,000 residues, one protein per step) is printed too.

Timed: one training step (train-mode batch norm, loss = Σ protein features, backward) per batch, graphs built
beforehand (their cost is printed separately). Reported: ms per 1,000 residues at batch size 1 (each globin its
own step) and batched; activation memory per residue (bytes autograd saves for backward, unique storages);
the same step under ``torch.autocast("cpu", dtype=torch.bfloat16)`` (``precision="bf16"``; the CPU default stays fp32); and the bare
GEMMs of the six layers (their FLOPs are the floor for any fp32 implementation).

    uv run python benchmarks/bench_gearnet.py [--threads 2] [--repeat 3] [--batch-size 8]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from protdata import ProteinBatch, load_chains
from protdata.device import cpu_bf16_support
from protdata.kernels import cpu_linear_backend
from protdata.testing import find_shared_data
from protenc_struct import GearNet, ResidueGraph
from protenc_struct.layers.cpu_linear import backends, set_backends

TORCHDRUG_MS_PER_1000 = 451.0  # issue 4: TorchDrug 0.2.1, one protein per step, CPU, these machines


class TorchDrugStyleGearNet(nn.Module):
    """TorchDrug's GearNet forward (sparse-matrix aggregation), sharing ``model``'s parameters."""

    def __init__(self, model: GearNet) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, x: Tensor, edge_list: Tensor, num_node: int, node2graph: Tensor, num_graphs: int
    ) -> Tensor:
        m = self.model
        rel = m.num_relation
        node_in, node_out, relation = edge_list.t()
        adjacency = torch.sparse_coo_tensor(
            torch.stack([node_in, node_out * rel + relation]),
            torch.ones(len(node_in), dtype=x.dtype),
            (num_node, num_node * rel),
        )
        hiddens = []
        layer_input = x
        for i, layer in enumerate(m.layers):
            update = torch.sparse.mm(adjacency.t(), layer_input).view(num_node, rel * layer_input.shape[1])
            # TorchDrug's nn.Linear: F.linear (MKL sgemm on CPU)
            out = F.linear(update, layer.linear.weight, layer.linear.bias)
            out = out + F.linear(layer_input, layer.self_loop.weight, layer.self_loop.bias)
            hidden = F.relu(layer.batch_norm(out))
            if hidden.shape == layer_input.shape:
                hidden = hidden + layer_input
            hidden = m.batch_norms[i](hidden)
            hiddens.append(hidden)
            layer_input = hidden
        node = torch.cat(hiddens, dim=-1)
        return torch.zeros(num_graphs, node.shape[1], dtype=node.dtype).index_add_(0, node2graph, node)


def saved_bytes(step: Callable[[], Tensor], parameters: list[Tensor]) -> int:
    """Bytes of the activations autograd saves for backward during ``step`` (unique storages, parameters and
    their casts excluded)."""
    weights = {p.untyped_storage().data_ptr() for p in parameters}
    shapes = {tuple(p.shape) for p in parameters}
    seen: dict[int, int] = {}

    def pack(t: Tensor) -> Tensor:
        if t.layout == torch.strided and tuple(t.shape) not in shapes:
            ptr = t.untyped_storage().data_ptr()
            if ptr not in weights:
                seen[ptr] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = step()
    loss.backward()
    return sum(seen.values())


def best_ms(fn: Callable[[], None], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    root = find_shared_data()
    if root is None:
        sys.exit("shared data not found: set $PROTSTACK_SHARED_DATA")
    proteins = [
        p for path in sorted((root / "structures" / "scop_globins").glob("d*")) for p in load_chains(path)
    ]
    model = GearNet().train()
    reference = TorchDrugStyleGearNet(model)
    residues = sum(len(p) for p in proteins)

    def prepare(batch_size: int) -> list[tuple[ProteinBatch, ResidueGraph, Tensor, Tensor]]:
        items = []
        for i in range(0, len(proteins), batch_size):
            batch = ProteinBatch.collate(proteins[i : i + batch_size])
            graph = model.build_graph(batch)
            x = F.one_hot(batch.residue_type, 21).float()
            edge_list = torch.cat([graph.edge_index.t(), graph.relation[:, None]], dim=1)
            items.append((batch, graph, x, edge_list))
        return items

    start = time.perf_counter()
    single, batched = prepare(1), prepare(args.batch_size)
    graph_ms = (time.perf_counter() - start) * 1e3 / 2

    def ours_step(item) -> Tensor:
        batch, graph, _x, _e = item
        return model(batch, graph=graph).protein.sum()

    def reference_step(item) -> Tensor:
        batch, graph, x, edge_list = item
        return reference(x, edge_list, batch.num_residues, graph.nodes.batch, len(batch)).sum()

    def forced(backend: str) -> Callable[[tuple], Tensor]:
        def step(item) -> Tensor:
            previous = set_backends(backend)
            try:
                return ours_step(item)
            finally:
                set_backends(previous)

        return step

    def bf16_step(item) -> Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return ours_step(item).float()

    # the two implementations agree (eval mode, so batch statistics do not enter)
    model.eval()
    with torch.no_grad():
        for item in batched[:1]:
            a = model(item[0], graph=item[1]).protein
            b = reference(item[2], item[3], item[0].num_residues, item[1].nodes.batch, len(item[0]))
            c = bf16_step(item)
            rel = float(((a - b).abs() / (b.abs() + 1)).max())
            bf16_error = float((a.sum() - c).abs() / a.sum().abs())
    model.train()
    print(f"{cpu_linear_backend().describe()} -> ours runs {backends()}")
    print(f"bf16: {cpu_bf16_support().describe()}")
    print(f"{len(proteins)} globins, {residues} residues, torch threads {args.threads}; outputs agree "
          f"(max rel. diff {rel:.1e}); graphs built in {graph_ms:.0f} ms (not timed below)")  # fmt: skip

    def run(step, items) -> Callable[[], None]:
        def epoch() -> None:
            for item in items:
                model.zero_grad(set_to_none=True)
                step(item).backward()

        return epoch

    steps = {
        "reference (TorchDrug-style)": reference_step,
        "ours (measured kernels)": ours_step,
        "ours, all oneDNN": forced("onednn"),
        "ours, all MKL (F.linear)": forced("mkl"),
        "ours, bf16 autocast": bf16_step,
    }
    for step in steps.values():
        run(step, single[:2])()  # warm-up
    # best of --repeat, implementations interleaved round by round (fairer on a busy machine)
    best = {(name, kind): float("inf") for name in steps for kind in ("single", "batched")}
    for _ in range(args.repeat):
        for name, step in steps.items():
            for kind, items in (("single", single), ("batched", batched)):
                best[name, kind] = min(best[name, kind], best_ms(run(step, items), 1))
    rows = {
        name: (
            best[name, "single"] / residues * 1000,
            best[name, "batched"] / residues * 1000,
            saved_bytes(lambda step=step: step(single[0]), list(model.parameters()))
            / single[0][0].num_residues,
        )
        for name, step in steps.items()
    }
    ref1, refb, _ = rows["reference (TorchDrug-style)"]
    print(f"{'fwd+bwd, ms per 1,000 residues':<30} {'batch 1':>9} {'vs ref':>7} {'vs TD':>6} "
          f"{f'batch {args.batch_size}':>9} {'vs ref':>7} {'KB/residue':>11}")  # fmt: skip
    for name, (b1, bb, mem) in rows.items():
        print(f"{name:<30} {b1:9.0f} {ref1 / b1:6.2f}x {TORCHDRUG_MS_PER_1000 / b1:5.2f}x "
              f"{bb:9.0f} {refb / bb:6.2f}x {mem / 1024:11.1f}")  # fmt: skip
    print(f'bf16 autocast: relative error of the summed protein features {bf16_error:.1e} (precision="bf16")')

    # the floor: the six layers' dense GEMMs alone (forward + both backward products), same row count
    n = single[0][0].num_residues
    weights = [(layer.linear.weight.detach(), layer.self_loop.weight.detach()) for layer in model.layers]

    inputs = [torch.randn(n, w_lin.shape[1]) for w_lin, _ in weights]  # made once: not timed

    def gemms(mm: Callable[[Tensor, Tensor], Tensor]) -> Callable[[], None]:
        def floor() -> None:
            for _ in range(len(proteins)):
                x = inputs[0][:, :21]
                for (w_lin, w_self), update in zip(weights, inputs):
                    out = mm(update, w_lin) + mm(x, w_self)  # x Wᵀ
                    grad = torch.ones_like(out)
                    mm(grad.t(), update.t()), mm(grad.t(), x.t())  # weight gradients
                    if x.shape[1] != 21:
                        mm(grad, w_lin.t()), mm(grad, w_self.t())  # input gradients (none for the 21-d input)
                    x = out

        return floor

    flops = sum(2 * 3 * (wl.numel() + ws.numel()) for wl, ws in weights) - 2 * (
        weights[0][0].numel() + weights[0][1].numel()
    )
    onednn = torch.ops.mkldnn._linear_pointwise
    for label, mm in (
        ("MKL sgemm", lambda a, b: a @ b.t()),
        ("oneDNN", lambda a, b: onednn(a, b, None, "none", [], "")),
    ):
        floor = best_ms(gemms(mm), args.repeat) / (n * len(proteins)) * 1000
        print(f"GEMM floor, {label} (same shapes, batch 1): {floor:.0f} ms per 1,000 residues = "
              f"{flops / 1e6:.0f} MFLOP per residue at {flops / floor / 1e3:.0f} GFLOP/s")  # fmt: skip
    print(f"TorchDrug 0.2.1 quoted in issue 4: {TORCHDRUG_MS_PER_1000:g} ms per 1,000 residues")


if __name__ == "__main__":
    main()
