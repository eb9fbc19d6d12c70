"""Uniform lines for benchmark results, so the README can quote them as printed."""

from __future__ import annotations


def ratio_line(what: str, ours: float, peer_name: str, peer: float, unit: str,
               target: float, higher_is_better: bool = True) -> str:
    """One line: our figure, the peer's, the ratio, and whether the target is met."""
    ratio = ours / peer if higher_is_better else peer / ours
    verdict = "meets" if ratio >= target else "MISSES"
    line = (f"{what}: wirelab {ours:,.1f} {unit}, {peer_name} {peer:,.1f} {unit}, "
            f"ratio {ratio:.2f}x ({verdict} target {target}x)")
    print(line, flush=True)
    return line
