"""I/O intervals, streaming: the frames and bytes of ``tshark -q -z io,stat,S``.

A frame falls in interval ``n`` when its time since the capture's first frame, rounded to
whole microseconds, divided by the interval in whole microseconds gives ``n`` -- tshark's own
arithmetic (ui/cli/tap-iostat.c keeps both in microseconds), so a frame near a boundary lands
where tshark puts it.  Every interval from the first to the last frame's is listed, empty
ones too.  Memory grows with the number of intervals, not of packets.
"""

from __future__ import annotations


class IoStat:
    """Frames and bytes per interval of ``interval`` seconds."""

    def __init__(self, interval: float) -> None:
        self.interval_us = int(interval * 1_000_000)  # truncated, as tshark does
        if self.interval_us <= 0:
            raise ValueError(f"interval {interval}: it must be at least 0.000001 s")
        self.origin_ns: int | None = None
        self.last_us = 0
        self.counts: list[list[int]] = []

    def add_frame(self, ts_ns: int, length: int) -> None:
        if self.origin_ns is None:
            self.origin_ns = ts_ns
        rel_us = (ts_ns - self.origin_ns + 500) // 1000  # rounded, as tshark's iostat does
        index = max(rel_us, 0) // self.interval_us
        while len(self.counts) <= index:
            self.counts.append([0, 0])
        self.counts[index][0] += 1
        self.counts[index][1] += length
        self.last_us = max(self.last_us, rel_us)

    def rows(self) -> list[dict[str, object]]:
        """One dict per interval: start and end in seconds from the first frame."""
        step = self.interval_us
        out: list[dict[str, object]] = []
        for n, (frames, size) in enumerate(self.counts):
            end = (n + 1) * step
            if n == len(self.counts) - 1:
                end = min(end, self.last_us)  # tshark ends the last one at the capture's end
            out.append({"start": n * step / 1e6, "end": end / 1e6, "frames": frames,
                        "bytes": size})
        return out


def render(interval: float, rows: list[dict[str, object]]) -> str:
    lines = [f"I/O intervals of {interval:g} s", f"{'start':>12} {'end':>12} {'frames':>8} "
             f"{'bytes':>12}", "-" * 47]
    for r in rows:
        lines.append(f"{r['start']:>12.6f} {r['end']:>12.6f} {r['frames']:>8} {r['bytes']:>12}")
    return "\n".join(lines)
