"""Uniform lines for benchmark results, so the README can quote them as printed."""

from __future__ import annotations


def ratio_line(what: str, ours: float, peer_name: str, peer: float, unit: str,
               target: float, higher_is_better: bool = True) -> str:
    """Print and return one line: our figure, the peer's, ours/peer, and the verdict.

    For a rate (``higher_is_better``) the target is a floor on ours/peer (``>= 2x``);
    for a time it is a ceiling (``<= 0.5x``).
    """
    ratio = ours / peer if peer else float("inf")
    met = ratio >= target if higher_is_better else ratio <= target
    sign = ">=" if higher_is_better else "<="
    verdict = "meets" if met else "MISSES"
    line = (f"{what}: wirelab {ours:,.3f} {unit}, {peer_name} {peer:,.3f} {unit}, "
            f"ratio {ratio:.2f}x ({verdict} target {sign} {target}x)")
    print(line, flush=True)
    return line
