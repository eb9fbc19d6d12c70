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
from wirelab.wire.packet import decode_frame
from wirelab.wire.tcp import TCP

_DICT = re.compile(r"\{[^{}]*\}")


WIRELAB = "wirelab's categories"
REQUESTS_ONLY = "HTTP = requests only, as Scapy's HTTPRequest"


Window = tuple[float, float]  # (start, end) in seconds since the epoch


def ground_truth(pcap: Path, window: Window | None = None) -> dict[str, int]:
    """Frames per category, by :func:`classify` (HTTP: a request or a response)."""
    return ground_truths(pcap, window)[WIRELAB]


def ground_truths(pcap: Path, window: Window | None = None) -> dict[str, dict[str, int]]:
    """The counts under both accepted definitions of HTTP.

    The curriculum's counter tests ``haslayer(HTTPRequest)``: a response is not HTTP for it
    but falls through to TCP.  Both readings are right answers to "count HTTP"; a counter
    passes if its numbers equal either.  With ``window``, only frames captured inside it.
    """
    counts = {proto.label: 0 for proto in Proto}
    responses = 0
    with open_capture(pcap) as reader:
        for frame in reader:
            if window is not None and not window[0] <= frame.ts_sec + frame.ts_frac_ns / 1e9 \
                    <= window[1]:
                continue
            proto = classify(frame.data, frame.linktype)
            counts[proto.label] += 1
            if proto is Proto.HTTP and _is_response(frame.data, frame.linktype):
                responses += 1
    requests_only = dict(counts)
    requests_only[Proto.HTTP.label] -= responses
    requests_only[Proto.TCP.label] += responses
    return {WIRELAB: counts, REQUESTS_ONLY: requests_only}


def _is_response(data: bytes, linktype: int) -> bool:
    tcp = decode_frame(data, linktype).get(TCP)
    return tcp is not None and tcp.payload.startswith(b"HTTP/1.")


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
