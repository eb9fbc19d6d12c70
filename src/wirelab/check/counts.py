"""2.3's two sides: the counts a counter program printed, and the capture's ground truth.

The ground truth is every frame of the capture taken on the interface the counter watched,
each named by :func:`wirelab.wire.classify.classify` -- the curriculum's categories, highest
protocol first (HTTP, DNS, ICMP, TCP, UDP, Other IP), plus ARP, IPv6 and Other.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

from wirelab.wire.capture import open_capture
from wirelab.wire.classify import Proto, classify

_DICT = re.compile(r"\{[^{}]*\}")


def ground_truth(pcap: Path) -> dict[str, int]:
    counts = {proto.label: 0 for proto in Proto}
    with open_capture(pcap) as reader:
        for frame in reader:
            counts[classify(frame.data, frame.linktype).label] += 1
    return counts


def _as_counts(value: object) -> dict[str, int] | None:
    if isinstance(value, dict) and isinstance(value.get("counts"), dict):
        value = value["counts"]  # wirelab sniff --json
    if isinstance(value, dict) and value and all(
            isinstance(k, str) and isinstance(v, int) for k, v in value.items()):
        return dict(value)
    return None


def parse_counts(output: str) -> dict[str, int] | None:
    """The last ``{name: count, ...}`` the program printed: JSON (``wirelab sniff --json``) or
    a Python dict as the curriculum's ``print(protocol_counts)`` writes it."""
    try:
        whole = _as_counts(json.loads(output))
    except ValueError:
        whole = None
    if whole is not None:
        return whole
    for text in reversed(_DICT.findall(output)):
        for parse in (json.loads, ast.literal_eval):
            try:
                found = _as_counts(parse(text))
            except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
                continue
            if found is not None:
                return found
    return None
