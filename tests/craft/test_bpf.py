"""Capture-filter compilation through tcpdump, and attaching the result in the kernel."""

from __future__ import annotations

import shutil
import socket
import struct
import subprocess

import pytest

from wirelab.craft.bpf import FilterError, compile_filter, pack_program, parse_ddd

pytestmark = pytest.mark.skipif(shutil.which("tcpdump") is None, reason="tcpdump missing")


def test_program_matches_tcpdump_dd_listing() -> None:
    # -dd prints the same program as C initialisers { code, jt, jf, k }: an independent view.
    listing = subprocess.run(["tcpdump", "-dd", "-y", "EN10MB", "udp port 53"],
                             capture_output=True, text=True, check=True).stdout
    expected = []
    for line in listing.splitlines():
        fields = line.strip().strip("{},").replace("}", "").split(",")
        code, jt, jf, k = (int(f.strip(), 0) for f in fields)
        expected.append((code, jt, jf, k))
    assert compile_filter("udp port 53") == expected


def test_first_instruction_loads_the_ethertype() -> None:
    # ldh [12]: BPF_LD|BPF_H|BPF_ABS = 0x28, offset 12 (the Ethernet type field).
    assert compile_filter("ip")[0] == (0x28, 0, 0, 12)


def test_inbound_uses_the_packet_type_ancillary_load() -> None:
    # SKF_AD_OFF (-0x1000) + SKF_AD_PKTTYPE (4), as an unsigned 32-bit k.
    assert (0x28, 0, 0, 0xFFFFF004) in compile_filter("inbound")


def test_syntax_error_is_one_line_filter_error() -> None:
    with pytest.raises(FilterError, match="capture filter 'udp port banana'"):
        compile_filter("udp port banana")


@pytest.mark.parametrize("text", ["", "2\n6 0 0 65535\n", "x\n", "1\n6 0 0\n"])
def test_bad_ddd_output_is_rejected(text: str) -> None:
    with pytest.raises(FilterError):
        parse_ddd(text)


def test_packing_is_struct_sock_filter() -> None:
    assert pack_program([(0x6, 0, 0, 0x40000)]) == struct.pack("=HBBI", 6, 0, 0, 0x40000)


def test_the_kernel_accepts_the_program() -> None:
    """SO_ATTACH_FILTER validates the program (sk_chk_filter); any socket type will do."""
    from wirelab.craft.bpf import attach

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        attach(sock, compile_filter("tcp port 80 or icmp"))
        with pytest.raises(OSError):  # and rejects a program that jumps out of bounds
            attach(sock, [(0x15, 5, 5, 0), (0x6, 0, 0, 0)])
    finally:
        sock.close()
