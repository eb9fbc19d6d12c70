"""Classic BPF filters, compiled by tcpdump and attached in the kernel.

A capture filter belongs in the kernel: a frame that does not match is never copied to user
space, which is the difference between keeping up and dropping at a high packet rate.  We do
not write a BPF compiler; libpcap's is the reference, and ``tcpdump -ddd EXPR`` prints its
output as decimal numbers: the instruction count, then one ``code jt jf k`` line per
``struct sock_filter`` (linux/filter.h).  Those go into a ``struct sock_fprog`` handed to
``setsockopt(SO_ATTACH_FILTER)``.

We compile for Ethernet (``-y EN10MB``), the link type of every interface in the lab
(veth, bridge ports and loopback all carry an Ethernet header), so no interface needs to be
opened to compile.  Qualifiers like ``inbound`` compile to Linux's ancillary loads
(``SKF_AD_PKTTYPE``) and work too.
"""

from __future__ import annotations

import ctypes
import shutil
import socket
import struct
import subprocess

from wirelab.errors import ExitCode, PrivilegeError, ToolMissingError, WirelabError

SO_ATTACH_FILTER = 26  # asm-generic/socket.h
SO_LOCK_FILTER = 44
INSTRUCTION = struct.Struct("=HBBI")  # struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; }
ETH_P_IP = 0x0800  # linux/if_ether.h
BPF_MAXINSNS = 4096  # linux/bpf_common.h: the kernel refuses longer classic programs


class FilterError(WirelabError):
    """A capture filter expression that libpcap cannot compile."""

    exit_code = ExitCode.BAD_INPUT


Program = list[tuple[int, int, int, int]]


def compile_filter(expression: str) -> Program:
    """Compile ``expression`` with libpcap (via tcpdump) into sock_filter tuples."""
    tcpdump = shutil.which("tcpdump")
    if tcpdump is None:
        raise ToolMissingError("tcpdump is needed to compile capture filters "
                               "(apt-get install tcpdump)")
    done = subprocess.run([tcpdump, "-ddd", "-y", "EN10MB", expression],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        reason = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"
        raise FilterError(f"capture filter {expression!r}: {reason}")
    return parse_ddd(done.stdout)


def parse_ddd(text: str) -> Program:
    """Parse ``tcpdump -ddd`` output: a count line, then ``code jt jf k`` lines."""
    lines = [line.split() for line in text.strip().splitlines() if line.strip()]
    try:
        count = int(lines[0][0])
        program = [(int(c), int(t), int(f), int(k)) for c, t, f, k in lines[1:]]
    except (IndexError, ValueError):
        raise FilterError(f"unexpected output of tcpdump -ddd: {text[:80]!r}") from None
    if count != len(program) or not 0 < count <= BPF_MAXINSNS:
        raise FilterError(f"tcpdump -ddd announced {count} instructions, gave {len(program)}")
    return program


def pack_program(program: Program) -> bytes:
    return b"".join(INSTRUCTION.pack(*insn) for insn in program)


def attach(sock: socket.socket, program: Program) -> None:
    """Attach ``program`` to ``sock`` (SO_ATTACH_FILTER copies it into the kernel)."""
    code = ctypes.create_string_buffer(pack_program(program))
    # struct sock_fprog { unsigned short len; struct sock_filter *filter; }: native layout,
    # so the pointer is aligned after the short exactly as the C compiler would place it.
    fprog = struct.pack("@HP", len(program), ctypes.addressof(code))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


def open_ip_receiver(expression: str, *, refusal: str, rcvbuf: int = 4 << 20) -> socket.socket:
    """A non-blocking AF_PACKET socket that receives the IPv4 frames matching ``expression``.

    The filter runs in the kernel, so the raw scans and trace see only their answers however
    busy the interface is.  Without CAP_NET_RAW: :class:`PrivilegeError` saying ``refusal``.
    """
    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
    except PermissionError:
        raise PrivilegeError(refusal) from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        attach(sock, compile_filter(expression))
    except BaseException:
        sock.close()
        raise
    sock.setblocking(False)
    return sock
