"""The privilege check shared by every crafting command.

Scapy without CAP_NET_RAW fails deep inside a socket call with ``PermissionError: [Errno 1]
Operation not permitted``.  We test for the capability once, up front, by opening the kind
of socket the command is about to use, and turn a refusal into one line that says what is
missing and where it is granted (the lab: root inside a namespace, or the rootless lab
whose user namespace gives the capability without sudo).
"""

from __future__ import annotations

import socket

from wirelab.errors import PrivilegeError

ETH_P_ALL = 0x0003


def require_raw_socket(command: str) -> None:
    """Raise :class:`PrivilegeError` unless this process may open AF_PACKET raw sockets."""
    try:
        probe = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    except PermissionError:
        raise PrivilegeError(
            f"{command} needs CAP_NET_RAW to open raw sockets; run it as root or inside the "
            f"lab: wirelab lab exec client -- wirelab {command} ..."
        ) from None
    probe.close()


def require_net_admin(command: str, detail: str) -> None:
    """Raise :class:`PrivilegeError` for an operation refused for lack of CAP_NET_ADMIN."""
    raise PrivilegeError(
        f"{command} needs CAP_NET_ADMIN to {detail}; run it as root or inside the lab: "
        f"wirelab lab exec client -- wirelab {command} ..."
    )
