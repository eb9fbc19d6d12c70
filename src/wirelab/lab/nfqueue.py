"""A minimal nfnetlink_queue client: the kernel hands us packet IDs, we give verdicts.

Used by the userspace shaper (:mod:`wirelab.lab.shaper`) on kernels built without netem
(CONFIG_NET_SCH_NETEM): an iptables NFQUEUE rule parks each packet in the kernel, and we
answer ACCEPT (now, or later = delay) or DROP (= loss).  Only metadata is copied to us
(NFQNL_COPY_META), so the packet bytes never leave the kernel.

Wire format from <linux/netfilter/nfnetlink_queue.h> and <linux/netfilter/nfnetlink.h>:
a netlink header, a ``nfgenmsg`` (family, version, res_id = queue number, big-endian), then
attributes; the queue's attributes are in network byte order.

Two ways a client loses packets that nobody asked to lose, both closed here:

- a full receive buffer.  The kernel cannot deliver a notification, counts an overrun and
  (without NETLINK_NO_ENOBUFS) makes the next ``recv`` fail with ENOBUFS; a client that treats
  that as fatal closes its socket, and closing a queue's socket drops every packet still
  waiting for a verdict (``nfqnl_flush`` with NF_DROP).  With NFQA_CFG_F_FAIL_OPEN the packet
  whose notification did not fit was accepted by the kernel, so nothing is owed for it: we ask
  for no ENOBUFS reports, force a large buffer, and shrug off an ENOBUFS that still comes.
- a notification read while waiting for a config ACK (a queue bound while its iptables rule
  already sends packets): it is kept and handed out by :meth:`QueueSocket.packets`, never
  discarded, or its packet would wait in the kernel until the socket closes, then be dropped.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from collections.abc import Iterator

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET = 0
NFQNL_MSG_VERDICT = 1
NFQNL_MSG_CONFIG = 2
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_META = 1
NFQA_PACKET_HDR = 1
NFQA_VERDICT_HDR = 2
NFQA_CFG_CMD = 1
NFQA_CFG_PARAMS = 2
NFQA_CFG_QUEUE_MAXLEN = 3
NFQA_CFG_MASK = 4
NFQA_CFG_FLAGS = 5
NFQA_CFG_F_FAIL_OPEN = 1
NF_DROP = 0
NF_ACCEPT = 1
NLM_F_REQUEST = 1
NLM_F_ACK = 4
NLMSG_ERROR = 2
SOL_NETLINK = 270
NETLINK_NO_ENOBUFS = 5
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
PACKET_MSG = (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET

_NLMSGHDR = struct.Struct("=IHHII")
_NFGENMSG = struct.Struct("!BBH")
_NLA = struct.Struct("=HH")


def _align(n: int) -> int:
    return (n + 3) & ~3


def _attr(kind: int, payload: bytes) -> bytes:
    raw = _NLA.pack(_NLA.size + len(payload), kind) + payload
    return raw + b"\0" * (_align(len(raw)) - len(raw))


class QueueSocket:
    """One netlink socket bound to one or more queue numbers."""

    def __init__(self, maxlen: int = 8192, rcvbuf: int = 8 << 20) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self.sock.bind((0, 0))
        try:  # past net.core.rmem_max; needs CAP_NET_ADMIN (root, or in the lab's userns)
            self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, rcvbuf)
        except OSError:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        # An overrun is not an error for a fail-open queue (see the module docstring).
        self.sock.setsockopt(SOL_NETLINK, NETLINK_NO_ENOBUFS, 1)
        self.maxlen = maxlen
        self.seq = 0
        self.pending: list[tuple[int, int]] = []  # notifications read while awaiting an ACK
        self.overruns = 0  # ENOBUFS seen anyway (each: >= 1 notification the kernel dropped)

    def fileno(self) -> int:
        return self.sock.fileno()

    def _send(self, msg_type: int, queue: int, attrs: bytes, flags: int = 0) -> int:
        self.seq += 1
        body = _NFGENMSG.pack(socket.AF_UNSPEC, 0, queue) + attrs
        header = _NLMSGHDR.pack(_NLMSGHDR.size + len(body), (NFNL_SUBSYS_QUEUE << 8) | msg_type,
                                NLM_F_REQUEST | flags, self.seq, 0)
        self.sock.send(header + body)
        return self.seq

    def _config(self, queue: int, attrs: bytes) -> None:
        seq = self._send(NFQNL_MSG_CONFIG, queue, attrs, NLM_F_ACK)
        while True:  # wait for the ACK (an NLMSG_ERROR with error 0) of this request
            data = self._recv(0)
            for msg_type, msg_seq, payload in _messages(data):
                if msg_type == PACKET_MSG:  # a packet already queued: owed a verdict
                    self.pending.extend(_packet_ids(payload))
                elif msg_type == NLMSG_ERROR and msg_seq == seq:
                    (error,) = struct.unpack_from("=i", payload)
                    if error:
                        raise OSError(-error, f"nfqueue config: {os.strerror(-error)}")
                    return

    def bind(self, queue: int) -> None:
        """Bind ``queue``, ask for metadata only, and fail open when our queue is full."""
        self._config(queue, _attr(NFQA_CFG_CMD, struct.pack("!BBH", NFQNL_CFG_CMD_BIND, 0,
                                                            socket.AF_INET)))
        self._config(queue, _attr(NFQA_CFG_PARAMS, struct.pack("!IB", 0, NFQNL_COPY_META))
                     + _attr(NFQA_CFG_QUEUE_MAXLEN, struct.pack("!I", self.maxlen)))
        # A full queue lets packets through rather than dropping them: the shaper must not
        # invent loss that nobody asked for.
        self._config(queue, _attr(NFQA_CFG_FLAGS, struct.pack("!I", NFQA_CFG_F_FAIL_OPEN))
                     + _attr(NFQA_CFG_MASK, struct.pack("!I", NFQA_CFG_F_FAIL_OPEN)))

    def _recv(self, flags: int) -> bytes:
        while True:
            try:
                return self.sock.recv(1 << 20, flags)
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:
                    raise
                self.overruns += 1  # the lost notifications' packets were accepted (fail-open)

    def packets(self, reads: int = 64) -> list[tuple[int, int]]:
        """(queue, packet id) of the packets notified so far (at most ``reads`` datagrams more
        than :meth:`bind` kept, so that a flood cannot starve the caller); never blocks."""
        out, self.pending = self.pending, []
        for _ in range(reads):
            try:
                data = self._recv(socket.MSG_DONTWAIT)
            except BlockingIOError:
                break
            for msg_type, _seq, payload in _messages(data):
                if msg_type == PACKET_MSG:
                    out.extend(_packet_ids(payload))
        return out

    def verdict(self, queue: int, packet_id: int, verdict: int) -> None:
        self._send(NFQNL_MSG_VERDICT, queue,
                   _attr(NFQA_VERDICT_HDR, struct.pack("!II", verdict, packet_id)))

    def close(self) -> None:
        self.sock.close()


def _packet_ids(payload: bytes) -> Iterator[tuple[int, int]]:
    """(queue, packet id) of one NFQNL_MSG_PACKET's payload."""
    _family, _version, queue = _NFGENMSG.unpack_from(payload)
    for kind, value in _attrs(payload[_NFGENMSG.size:]):
        if kind == NFQA_PACKET_HDR:
            yield queue, struct.unpack_from("!I", value)[0]
            return


def _messages(data: bytes) -> Iterator[tuple[int, int, bytes]]:
    offset = 0
    while offset + _NLMSGHDR.size <= len(data):
        length, msg_type, _flags, seq, _pid = _NLMSGHDR.unpack_from(data, offset)
        if length < _NLMSGHDR.size:
            return
        yield msg_type, seq, data[offset + _NLMSGHDR.size:offset + length]
        offset += _align(length)


def _attrs(data: bytes) -> Iterator[tuple[int, bytes]]:
    offset = 0
    while offset + _NLA.size <= len(data):
        length, kind = _NLA.unpack_from(data, offset)
        if length < _NLA.size:
            return
        yield kind & 0x3FFF, data[offset + _NLA.size:offset + length]
        offset += _align(length)
