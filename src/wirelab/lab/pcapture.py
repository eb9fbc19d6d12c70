"""A tcpdump stand-in for rootless labs: AF_PACKET in, pcap out, same command-line contract.

Why: tcpdump, started as root, switches to its own ``tcpdump`` user after opening the
interface (Debian builds it ``--with-user=tcpdump``; ``-Z root`` still calls initgroups()).
Inside an unprivileged user namespace only our own UID is mapped and setgroups(2) is denied
(user_namespaces(7)), so that switch fails and tcpdump exits.  This module does the part of
tcpdump the lab needs: a packet socket on one interface, the filter compiled by libpcap
(``tcpdump -ddd``, which opens no interface) and attached in the kernel, kernel timestamps,
and a pcap written packet by packet to stdout.  It speaks tcpdump's lines on stderr
("listening on ...", "N packets captured"), so :class:`wirelab.lab.capture.Capture` drives
either one the same way.
"""

from __future__ import annotations

import argparse
import signal
import socket
import struct
import sys

from wirelab.wire.pcap import LINKTYPE_ETHERNET, PcapWriter

ETH_P_ALL = 0x0003
SO_TIMESTAMPNS = 35
_TIMESPEC = struct.Struct("@qq")


def _open(iface: str, bpf: str | None) -> socket.socket:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    if bpf:
        # Attached before bind, so that no unfiltered packet is queued in between.
        from wirelab.craft.bpf import attach, compile_filter

        attach(sock, compile_filter(bpf))
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.bind((iface, 0))
    return sock


def capture(iface: str, bpf: str | None, count: int | None, snaplen: int) -> int:
    sock = _open(iface, bpf)
    writer = PcapWriter(sys.stdout.buffer, LINKTYPE_ETHERNET, snaplen, nanosecond=False)
    sys.stdout.buffer.flush()
    sys.stderr.write(f"listening on {iface}, link-type EN10MB (Ethernet), snapshot length "
                     f"{snaplen} bytes\n")
    sys.stderr.flush()
    captured = 0
    try:
        while count is None or captured < count:
            data, ancillary, _flags, _addr = sock.recvmsg(65535, socket.CMSG_SPACE(16))
            stamp = None
            for level, kind, raw in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    sec, nsec = _TIMESPEC.unpack_from(raw)
                    stamp = (sec, nsec)
            writer.write(data, stamp)
            sys.stdout.buffer.flush()  # like tcpdump -U: the file is whole after each packet
            captured += 1
    except KeyboardInterrupt:
        pass
    sys.stderr.write(f"{captured} packets captured\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="rootless packet capture (internal)")
    parser.add_argument("-i", dest="iface", required=True)
    parser.add_argument("-c", dest="count", type=int, default=None)
    parser.add_argument("-s", dest="snaplen", type=int, default=262144)
    parser.add_argument("bpf", nargs="?", default=None)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    return capture(args.iface, args.bpf, args.count, args.snaplen)


if __name__ == "__main__":
    sys.exit(main())
