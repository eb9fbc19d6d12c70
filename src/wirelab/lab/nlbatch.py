"""Many rtnetlink requests in one send(), every acknowledgement checked.

The kernel processes the messages of one netlink send in order and acknowledges each
(NLM_F_ACK), so a namespace's whole configuration (bridges and cables, or a host's
loopback, interfaces, addresses and routes) costs one system call instead of one round trip
per object.  Messages are built with pyroute2's message classes (ifinfmsg, ifaddrmsg, rtmsg);
only the pipelining is ours.  Interface indexes are chosen by us (ifi_index in RTM_NEWLINK,
honoured for new devices), so later messages in the same batch can name them.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from typing import Any

from pyroute2.netlink import NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST  # type: ignore[import-untyped]
from pyroute2.netlink.rtnl import RTM_NEWADDR, RTM_NEWLINK, RTM_NEWROUTE  # type: ignore[import-untyped]
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg  # type: ignore[import-untyped]
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg  # type: ignore[import-untyped]
from pyroute2.netlink.rtnl.rtmsg import rtmsg  # type: ignore[import-untyped]

from wirelab.errors import LabError

SOL_NETLINK = 270
NETLINK_CAP_ACK = 10  # acknowledgements without a copy of the request
NLMSG_ERROR = 2
IFF_UP = 0x1
RTPROT_STATIC = 4
RT_TABLE_MAIN = 254
RTN_UNICAST = 1
_HEADER = struct.Struct("=IHHII")
CHUNK = 32 * 1024  # stay well under the socket's send buffer


class Batch:
    """Requests for one namespace's socket; :meth:`commit` sends them and checks the ACKs."""

    def __init__(self, sock: socket.socket, where: str) -> None:
        self.sock = sock
        self.where = where
        self.messages: list[tuple[bytes, str]] = []
        sock.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)

    def _add(self, msg: Any, msg_type: int, what: str, create: bool = True) -> None:
        msg["header"]["type"] = msg_type
        flags = NLM_F_REQUEST | NLM_F_ACK
        if create:
            flags |= NLM_F_CREATE | NLM_F_EXCL
        msg["header"]["flags"] = flags
        msg["header"]["sequence_number"] = len(self.messages) + 1
        msg.encode()
        self.messages.append((bytes(msg.data), what))

    def link(self, what: str, attrs: list[Any], index: int = 0, up: bool = False,
             create: bool = True) -> None:
        msg = ifinfmsg()
        msg["index"] = index
        msg["flags"] = IFF_UP if up else 0
        msg["change"] = IFF_UP if up else 0
        msg["attrs"] = attrs
        self._add(msg, RTM_NEWLINK, what, create)

    def set_up(self, index: int, name: str) -> None:
        self.link(f"{name} up", [], index=index, up=True, create=False)

    def address(self, index: int, address: str, prefixlen: int, broadcast: str) -> None:
        msg = ifaddrmsg()
        msg["family"] = socket.AF_INET
        msg["prefixlen"] = prefixlen
        msg["index"] = index
        msg["attrs"] = [["IFA_LOCAL", address], ["IFA_ADDRESS", address],
                        ["IFA_BROADCAST", broadcast]]
        self._add(msg, RTM_NEWADDR, f"address {address}/{prefixlen}")

    def route(self, dst: str, dst_len: int, gateway: str, oif: int,
              more: list[tuple[str, int]] | None = None) -> None:
        """A route via ``gateway`` on ``oif``; with ``more`` next hops, one multipath route.

        A multipath route carries RTA_MULTIPATH: one ``rtnexthop`` (flags, hops = weight-1,
        ifindex) with its own RTA_GATEWAY per next hop, as ``ip route add ... nexthop via A
        nexthop via B`` sends (rtnetlink(7)).
        """
        msg = rtmsg()
        msg["family"] = socket.AF_INET
        msg["dst_len"] = dst_len
        msg["table"] = RT_TABLE_MAIN
        msg["proto"] = RTPROT_STATIC
        msg["type"] = RTN_UNICAST
        if more:
            hops = [(gateway, oif), *more]
            msg["attrs"] = [["RTA_DST", dst], ["RTA_MULTIPATH", [
                {"flags": 0, "hops": 0, "oif": index, "attrs": [["RTA_GATEWAY", via]]}
                for via, index in hops]]]
            what = " ".join(f"nexthop via {via}" for via, _ in hops)
        else:
            msg["attrs"] = [["RTA_DST", dst], ["RTA_GATEWAY", gateway], ["RTA_OIF", oif]]
            what = f"via {gateway}"
        self._add(msg, RTM_NEWROUTE, f"route {dst}/{dst_len} {what}")

    def commit(self) -> None:
        """Send everything (in chunks of whole messages), then wait for every ACK."""
        chunk = b""
        for data, _ in self.messages:
            if chunk and len(chunk) + len(data) > CHUNK:
                self.sock.send(chunk)
                chunk = b""
            chunk += data
        if chunk:
            self.sock.send(chunk)
        pending = set(range(1, len(self.messages) + 1))
        while pending:
            reply = self.sock.recv(65536)
            offset = 0
            while offset + _HEADER.size <= len(reply):
                length, msg_type, _flags, seq, _pid = _HEADER.unpack_from(reply, offset)
                if msg_type == NLMSG_ERROR:
                    (error,) = struct.unpack_from("=i", reply, offset + _HEADER.size)
                    pending.discard(seq)
                    if error:
                        self._fail(seq, -error)
                offset += (length + 3) & ~3
        self.messages.clear()

    def _fail(self, seq: int, code: int) -> None:
        what = self.messages[seq - 1][1]
        hint = " (name taken)" if code == errno.EEXIST else ""
        raise LabError(f"{self.where}: {what} failed: {os.strerror(code)}{hint}")
