"""Where a benchmark's CPU time goes: self time per op group from ``torch.profiler``, for the Amdahl bounds the
benchmarks print (what a faster kernel for one group could give at most).

Dense GEMMs are ``mm`` / ``addmm`` / ``bmm`` / oneDNN linears that do not run inside a sparse product (torch's
sparse-dense product also reports ``aten::addmm``; those count as ``sparse``).
"""

from __future__ import annotations

from collections.abc import Callable

#: op names of each group (self CPU time).
GEMM_OPS = frozenset(
    {"aten::mm", "aten::addmm", "aten::addmm_", "aten::bmm", "aten::baddbmm", "mkldnn::_linear_pointwise"}
)
ATTENTION_OPS = frozenset(
    {
        "aten::_scaled_dot_product_flash_attention_for_cpu",
        "aten::_scaled_dot_product_flash_attention_for_cpu_backward",
    }
)
_SPARSE_PARENTS = ("aten::_sparse_mm", "aten::_sparse_addmm", "aten::_sparse_sparse_matmul")


def time_shares(run: Callable[[], object]) -> dict[str, float]:
    """``{"gemm", "attention", "sparse", "other": share}`` of ``run()``'s self CPU time (shares sum to 1)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run()
    shares = dict.fromkeys(("gemm", "attention", "sparse", "other"), 0.0)
    for event in prof.events():
        parent, sparse = event.cpu_parent, False
        while parent is not None and not sparse:
            sparse, parent = parent.name in _SPARSE_PARENTS, parent.cpu_parent
        if sparse or event.name in _SPARSE_PARENTS:
            group = "sparse"
        elif event.name in GEMM_OPS:
            group = "gemm"
        elif event.name in ATTENTION_OPS:
            group = "attention"
        else:
            group = "other"
        shares[group] += event.self_cpu_time_total
    total = sum(shares.values()) or 1.0
    return {k: v / total for k, v in shares.items()}


def describe_shares(shares: dict[str, float]) -> str:
    """``dense GEMMs 57 %, attention 31 %, other 12 %`` (groups that took no time left out)."""
    names = {"gemm": "dense GEMMs", "attention": "attention", "sparse": "sparse products", "other": "other"}
    return ", ".join(
        f"{names[k]} {100 * v:.0f} %" for k, v in shares.items() if v > 0 or k in ("gemm", "other")
    )
