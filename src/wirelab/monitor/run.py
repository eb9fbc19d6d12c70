"""Feed a capture file through statistics accumulators, one packet at a time."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from wirelab.monitor.flows import FlowTable
from wirelab.monitor.io import IoStat
from wirelab.monitor.keys import KeyReader, Keys
from wirelab.monitor.phs import Hierarchy
from wirelab.wire.capture import open_capture


class Accumulator(Protocol):
    def add(self, keys: Keys, ts_ns: int, length: int) -> None: ...


def run(path: str, tables: Sequence[Accumulator], hierarchy: Hierarchy | None = None,
        io: IoStat | None = None, on_warning: Callable[[str], None] | None = None) -> int:
    """Count every packet of ``path`` into ``tables`` (and ``hierarchy``, ``io``).

    Returns the first frame's time in nanoseconds, the origin of relative times.
    """
    reader = KeyReader()
    framed = [t for t in tables if isinstance(t, FlowTable)]
    origin = 0
    first = True
    with open_capture(path, on_warning=on_warning) as packets:
        for p in packets:
            ts = p.ts_sec * 1_000_000_000 + p.ts_frac_ns
            if first:
                origin, first = ts, False
            if io is not None:
                io.add_frame(ts, p.orig_len)
            link, keys = reader.read_frame(p.data, p.linktype)
            for flow_table in framed:
                flow_table.set_frame(p.data)
            if hierarchy is not None:
                hierarchy.add_frame(link, keys, p.orig_len)
            if keys is None:
                continue
            for table in tables:
                table.add(keys, ts, p.orig_len)
    return origin
