"""Protocol hierarchy, streaming: ``tshark -q -z io,phs`` down to the transport layer.

Each frame adds one frame and its length to every node on its path (``eth``, ``eth/vlan``,
``eth/vlan/ip``, ``eth/vlan/ip/udp``), with tshark's protocol names.  The path stops at the
transport layer (tcp, udp, icmp, icmpv6) or at arp: what tshark puts below those depends on
its port tables and heuristic dissectors (dns, tls, vxlan, rx, ...), which the fast path does
not imitate.  A fragment of a datagram still incomplete is ``data`` under its IP node, as in
tshark; the transport node is counted on the frame that completes the datagram.
"""

from __future__ import annotations

from wirelab.monitor.keys import FRAGMENT, Keys

_TRANSPORT = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmpv6"}
LEAVES = frozenset({"tcp", "udp", "icmp", "icmpv6", "arp", "data"})
"""Nodes below which this hierarchy does not go."""


class Hierarchy:
    """Frames and bytes per protocol path, in the order paths were first seen."""

    def __init__(self) -> None:
        self.nodes: dict[tuple[str, ...], list[int]] = {}

    def add_frame(self, link: tuple[str, ...], keys: Keys | None, length: int) -> None:
        path = link
        if keys is not None:
            if keys.payload == FRAGMENT:
                path += ("data",)
            else:
                name = _TRANSPORT.get(keys.payload)
                if name is not None and (keys.proto or keys.payload not in (6, 17)):
                    path += (name,)
        nodes = self.nodes
        for depth in range(1, len(path) + 1):
            node = nodes.get(path[:depth])
            if node is None:
                node = nodes[path[:depth]] = [0, 0]
            node[0] += 1
            node[1] += length

    def rows(self) -> list[dict[str, object]]:
        """Depth-first, children in first-seen order (tshark's order)."""
        children: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
        for path in self.nodes:
            children.setdefault(path[:-1], []).append(path)
        out: list[dict[str, object]] = []

        def walk(parent: tuple[str, ...]) -> None:
            for path in children.get(parent, []):
                frames, size = self.nodes[path]
                out.append({"path": "/".join(path), "protocol": path[-1],
                            "depth": len(path) - 1, "frames": frames, "bytes": size})
                walk(path)

        walk(())
        return out


def render(rows: list[dict[str, object]]) -> str:
    """tshark's layout: two spaces per level, frames and bytes."""
    lines = ["Protocol hierarchy (down to the transport layer)"]
    for r in rows:
        name = "  " * int(r["depth"]) + str(r["protocol"])  # type: ignore[call-overload]
        lines.append(f"{name:<40} frames:{r['frames']} bytes:{r['bytes']}")
    return "\n".join(lines)
