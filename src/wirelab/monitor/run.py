"""Feed packets through statistics accumulators, one packet at a time.

The packets come from a :class:`wirelab.monitor.source.Source`: a capture file or a live
interface, the same loop for both.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from wirelab.monitor.io import IoStat
from wirelab.monitor.keys import KeyReader, Keys
from wirelab.monitor.phs import Hierarchy
from wirelab.monitor.source import Packet, Source, open_source


class Accumulator(Protocol):
    def add(self, keys: Keys, ts_ns: int, length: int) -> None: ...


def run(path: str, tables: Sequence[Accumulator], hierarchy: Hierarchy | None = None,
        io: IoStat | None = None, on_warning: Callable[[str], None] | None = None) -> int:
    """Count every packet of the capture file ``path``; see :func:`run_source`."""
    with open_source(path, on_warning=on_warning) as source:
        return run_source(source, tables, hierarchy, io)


def run_source(source: Source, tables: Sequence[Accumulator],
               hierarchy: Hierarchy | None = None, io: IoStat | None = None,
               tee: Callable[[list[Packet]], None] | None = None) -> int:
    """Count every packet of ``source`` into ``tables`` (and ``hierarchy``, ``io``).

    ``tee`` is given each batch of packets first (a :class:`~.source.Recorder` writing them).
    A table with a ``set_frame(data)`` method (:class:`wirelab.monitor.flows.FlowTable`) is
    told each frame's bytes before its ``add``.  Returns the first frame's time in
    nanoseconds, the origin of relative times (0 when there was no packet).
    """
    reader = KeyReader()
    read_frame = reader.read_frame
    framed = [t.set_frame for t in tables if hasattr(t, "set_frame")]
    adds = [t.add for t in tables]
    add_frame = hierarchy.add_frame if hierarchy is not None else None
    io_add = io.add_frame if io is not None else None
    origin: int | None = None
    only = adds[0] if len(adds) == 1 and not framed and add_frame is None and io_add is None \
        else None  # one table, nothing else: the loop below without its tests
    # ... and a table with a batch method of its own (ConversationTable.feed) reads the frames
    feed = getattr(tables[0], "feed", None) if only is not None else None
    for batch in source.batches(0.25):
        if not batch:
            continue
        if origin is None:
            origin = batch[0][0]
        if tee is not None:
            tee(batch)
        if feed is not None:
            feed(batch, reader.read)
            continue
        if only is not None:
            for ts, linktype, data, length in batch:
                keys = read_frame(data, linktype)[1]
                if keys is not None:
                    only(keys, ts, length)
            continue
        for ts, linktype, data, length in batch:
            if io_add is not None:
                io_add(ts, length)
            link, keys = read_frame(data, linktype)
            for set_frame in framed:
                set_frame(data)
            if add_frame is not None:
                add_frame(link, keys, length, data)
            if keys is None:
                continue
            for add in adds:
                add(keys, ts, length)
    return origin or 0
