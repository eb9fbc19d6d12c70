"""``wirelab top``: live top talkers, conversations, ports, protocols and TCP flows.

The accounting is :class:`wirelab.monitor.top.TopModel` (pure, tested on synthetic frames);
this module only captures, draws with rich and reads keys.  In a terminal the view redraws
every ``--interval`` seconds and reads single keys in cbreak mode (no Enter needed): ``s``
cycles the sort column through the windows and the totals, ``p`` pauses the display (the
counting goes on), ``q`` quits.  Anywhere else -- ``--json``, ``--once``, output to a pipe --
it prints one snapshot when the capture ends and exits, which is what scripts and tests use.
"""

from __future__ import annotations

import json
import os
import select
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from rich.console import RenderableType

    from wirelab.monitor.top import TopModel


@click.command(
    "top",
    epilog="Example: wirelab lab exec server -- wirelab top -i eth0\n\n"
    "Rates are averages over sliding windows (iftop's 2, 10 and 40 s; change them with "
    "--window, repeated), shown in bits per second as iftop does; --json gives bytes per "
    "second and byte totals.  Bytes are frame lengths, as tshark's conversation tables.  "
    "Flows show TCP's initial RTT (SYN to the handshake's ACK, tshark's "
    "tcp.analysis.initial_rtt), retransmitted and out-of-order segments (tshark's rules).  "
    "Keys in the live view: s sort "
    "(cycles windows and total), p pause, q quit.  For scripts: --once prints one snapshot "
    "after --interval seconds; --duration S after S seconds; --json as JSON.  -r FILE replays "
    "a capture file and prints the snapshot at its end.",
)
@click.option("-i", "--interface", help="Interface to watch (needs CAP_NET_RAW).")
@click.option("-r", "--read", "capture", type=click.Path(dir_okay=False, exists=True),
              help="Replay a capture file instead.")
@click.option("-f", "--filter", "bpf", help="Live capture filter, tcpdump syntax.")
@click.option("--interval", type=click.FloatRange(min=0.05), default=1.0, show_default=True,
              help="Seconds between redraws (and the length of --once).")
@click.option("--window", "windows", type=click.FloatRange(min=0.1), multiple=True,
              help="A sliding window in seconds (repeat; default 2, 10, 40).")
@click.option("--sort", help="Sort column: a window (e.g. 10s, the default) or total.")
@click.option("-n", "--limit", type=click.IntRange(min=1), default=10, show_default=True,
              help="Rows per table.")
@click.option("--duration", type=click.FloatRange(min=0.01),
              help="Stop after this many seconds (of capture time, for a file).")
@click.option("--once", is_flag=True, help="One snapshot after --interval seconds, then exit.")
@click.option("--json", "as_json", is_flag=True, help="Print the snapshot as JSON.")
def top(interface: str | None, capture: str | None, bpf: str | None, interval: float,
        windows: tuple[float, ...], sort: str | None, limit: int, duration: float | None,
        once: bool, as_json: bool) -> None:
    """Live top talkers, conversations, ports and protocols of an interface."""
    from wirelab.monitor.source import open_source
    from wirelab.monitor.top import DEFAULT_WINDOWS, TopModel, window_name

    if (capture is None) == (interface is None):
        raise click.UsageError("give -i INTERFACE or -r FILE (one of them)")
    model = TopModel(windows or DEFAULT_WINDOWS)
    sorts = [window_name(w) for w in model.windows] + ["total"]
    if sort is not None and sort not in sorts:
        raise click.BadParameter(f"{sort!r}: one of {', '.join(sorts)}", param_hint="--sort")
    if once:
        duration = interval if duration is None else min(duration, interval)
    interactive = not (as_json or once) and sys.stdout.isatty() and capture is None

    def warn(message: str) -> None:
        click.echo(f"wirelab: warning: {message}", err=True)

    with open_source(capture, interface=interface, bpf=bpf, duration=duration,
                     on_warning=warn) as source:
        if source.live:
            model.start(time.time_ns())
            until = f"{duration:g} s" if duration else "q or Ctrl-C"
            click.echo(f"wirelab: capturing on {source.name} until {until}", err=True)
        default_sort = sorts[(len(sorts) - 1) // 2]  # the middle window, iftop's 10 s
        view = _View(interface or str(capture), sorts, sort or default_sort, limit)
        if interactive:
            view.keys = True
            _interactive(source, model, view, interval)
        else:
            for batch in source.batches(0.25):
                for p in batch:
                    model.add_frame(*p)
    now = time.time_ns() if source.live else None
    snap = model.snapshot(view.sort, limit, now)
    snap["interface"] = interface
    snap["capture"] = capture
    if source.live:
        snap["kernel_drops"] = source.kernel_drops
    if as_json:
        click.echo(json.dumps(snap, indent=2))
    elif not interactive:
        from rich.console import Console

        Console(width=max(120, _width())).print(view.render(snap))


def _width() -> int:
    try:
        return os.get_terminal_size().columns
    except OSError:
        return 120


def _interactive(source: Any, model: TopModel, view: _View, interval: float) -> None:
    """Redraw every ``interval`` seconds; read keys from the terminal."""
    from rich.console import Console
    from rich.live import Live

    console = Console()
    next_draw = time.monotonic()
    with _cbreak() as keys, Live(console=console, auto_refresh=False, screen=True) as live:
        for batch in source.batches(min(0.2, interval)):
            for p in batch:
                model.add_frame(*p)
            for key in keys():
                if key == "q":
                    source.stop()
                elif key == "s":
                    view.next_sort()
                    next_draw = 0.0
                elif key == "p":
                    view.paused = not view.paused
                    next_draw = 0.0
            if time.monotonic() >= next_draw:
                if not view.paused or next_draw == 0.0:
                    snap = model.snapshot(view.sort, view.limit, time.time_ns())
                    live.update(view.render(snap), refresh=True)
                next_draw = time.monotonic() + interval


@contextmanager
def _cbreak() -> Iterator[Any]:
    """Single keys from the terminal without Enter (cbreak mode), restored on the way out;
    yields a function returning the keys pressed since the last call."""
    if not sys.stdin.isatty():
        yield lambda: ""
        return
    import termios
    import tty

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    tty.setcbreak(fd)

    def pressed() -> str:
        if select.select([fd], [], [], 0)[0]:
            return os.read(fd, 32).decode(errors="replace").lower()
        return ""

    try:
        yield pressed
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def bits(rate: float) -> str:
    """A byte rate as iftop prints it: bits per second with b, Kb, Mb, Gb (powers of 1000)."""
    value = rate * 8
    for unit, scale in (("Gb", 1e9), ("Mb", 1e6), ("Kb", 1e3)):
        if value >= scale:
            return f"{value / scale:.2f}{unit}"
    return f"{value:.0f}b"


def size(n: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f}{unit}"
    return f"{n:.0f}B"


class _View:
    """How a snapshot is drawn: the sort column, paused or not, the tables."""

    def __init__(self, name: str, sorts: list[str], sort: str, limit: int) -> None:
        self.name, self.sorts, self.sort, self.limit = name, sorts, sort, limit
        self.paused = False
        self.keys = False  # the key help is shown only where keys are read (a live view)

    def next_sort(self) -> None:
        self.sort = self.sorts[(self.sorts.index(self.sort) + 1) % len(self.sorts)]

    def render(self, snap: dict[str, Any]) -> RenderableType:
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        windows: list[str] = snap["windows"]
        head = Text(f"wirelab top  {self.name}  {snap['elapsed']:.0f} s  "
                    f"{snap['packets']} packets {size(snap['bytes'])}  rate "
                    + " ".join(f"{w}: {bits(snap['rate'][w])}" for w in windows)
                    + f"  sorted by {self.sort}" + ("  [PAUSED]" if self.paused else "")
                    + ("   keys: s sort  p pause  q quit" if self.keys else ""), style="bold")

        def table(title: str, columns: list[str], rows: list[list[str]]) -> Table:
            t = Table(title=title, title_justify="left", expand=True, box=None,
                      header_style="bold cyan")
            for i, c in enumerate(columns):
                t.add_column(c, justify="left" if i < 2 else "right", no_wrap=True)
            for r in rows:
                t.add_row(*r)
            return t

        def rates(r: dict[str, Any]) -> list[str]:
            return [bits(r["rate"][w]) for w in windows]

        hosts = table("Top talkers", ["host", "", "sent", "received", *windows],
                      [[h["host"], "", size(h["tx_bytes"]), size(h["rx_bytes"]), *rates(h)]
                       for h in snap["hosts"]])
        convs = table("Conversations", ["A", "B", "A->B", "B->A", *windows],
                      [[c["a"], c["b"], size(c["a_to_b_bytes"]), size(c["b_to_a_bytes"]),
                        *rates(c)] for c in snap["conversations"]])
        ports = table("Ports", ["port", "", "total", *windows],
                      [[p["port"], "", size(p["total_bytes"]), *rates(p)]
                       for p in snap["ports"]])
        protos = table("Protocols", ["protocol", "", "packets", "total", *windows],
                       [[p["protocol"], "", str(p["packets"]), size(p["total_bytes"]),
                         *rates(p)] for p in snap["protocols"]])
        flows = table("Flows", ["originator", "responder", "proto", "packets", "total",
                                "RTT ms", "retrans", "ooo", *windows],
                      [[f["orig"], f["resp"], f["proto"], str(f["packets"]),
                        size(f["total_bytes"]),
                        f"{f['rtt_ms']:.3f}" if f["rtt_ms"] is not None else "-",
                        str(f["retransmissions"]) if f["retransmissions"] is not None else "-",
                        str(f["out_of_order"]) if f["out_of_order"] is not None else "-",
                        *rates(f)] for f in snap["flows"]])
        return Group(head, hosts, convs, ports, protos, flows)
