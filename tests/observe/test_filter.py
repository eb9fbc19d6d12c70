"""The small filter language: what each primitive matches, precedence, and its errors."""

from __future__ import annotations

import pytest

from wirelab.errors import ExitCode
from wirelab.observe import FilterError, IcmpInfo, Observed, parse_filter
from wirelab.wire.ipv4 import IPProto

WEB = Observed(1, 0, 60, "198.18.0.10", "198.18.0.20", IPProto.TCP, 40000, 80)
DNS = Observed(2, 0, 60, "198.18.0.10", "198.18.0.20", IPProto.UDP, 5353, 53)
PING = Observed(3, 0, 60, "198.18.0.20", "198.18.0.10", IPProto.ICMP,
                icmp=IcmpInfo(8, 0, 4, 1, 1))
PING6 = Observed(4, 0, 60, "2001:db8::1", "2001:db8::2", IPProto.ICMPV6,
                 icmp=IcmpInfo(128, 0, 6, 1, 1))
ALL = [WEB, DNS, PING, PING6]


def kept(expr: str, stream: int | None = None) -> list[int]:
    flt = parse_filter(expr)
    return [p.number for p in ALL if flt(p, stream)]


@pytest.mark.parametrize(("expr", "numbers"), [
    ("tcp", [1]),
    ("udp", [2]),
    ("icmp", [3, 4]),
    ("host 198.18.0.20", [1, 2, 3]),
    ("src host 198.18.0.20", [3]),
    ("dst host 198.18.0.20", [1, 2]),
    ("host 2001:db8:0::2", [4]),  # compared in canonical form
    ("port 53", [2]),
    ("dst port 80", [1]),
    ("src port 80", []),
    ("not tcp", [2, 3, 4]),
    ("! tcp && ! udp", [3, 4]),
    ("tcp or udp and port 53", [1, 2]),  # and binds tighter than or
    ("(tcp or udp) and port 53", [2]),
    ("TCP AND PORT 80", [1]),
    ("udp || icmp and not host 2001:db8::1", [2, 3]),
])
def test_primitives_and_precedence(expr: str, numbers: list[int]) -> None:
    assert kept(expr) == numbers


def test_stream_primitive_uses_the_stream_number_given() -> None:
    assert kept("stream 3", stream=3) == [1, 2, 3, 4]
    assert kept("stream 3", stream=4) == []


@pytest.mark.parametrize(("expr", "message"), [
    ("", "filter is empty"),
    ("tcp port 80", r"expected 'and', 'or' or the end at 5 \('port'\)"),
    ("port eighty", r"expected a port at 6 \('eighty'\)"),
    ("port 70000", r"expected a port at 6"),
    ("host 300.1.1.1", r"expected an IPv4 or IPv6 address at 6"),
    ("(tcp", r"expected '\)' at the end"),
    ("tcp and", r"expected tcp, udp, icmp, host, port, stream, not or '\(' at the end"),
    ("src tcp", r"at 5 \('tcp'\)"),
    ("tcp & udp", r"unexpected character at 5"),
])
def test_errors_name_the_position(expr: str, message: str) -> None:
    with pytest.raises(FilterError, match=message) as info:
        parse_filter(expr)
    assert info.value.exit_code == ExitCode.USAGE
