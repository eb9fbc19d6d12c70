"""``sendmmsg(2)`` from Python with ctypes: many datagrams or frames in one system call.

The benchmarks' senders must outrun the receivers they measure; one ``send`` per packet
would make Python the bottleneck.  ``sendmmsg`` takes an array of ``struct mmsghdr``, each
a ``struct msghdr`` (whose ``msg_iov`` points at the bytes) and the count the kernel fills
in.  The layouts are Linux's (``<sys/socket.h>``, ``<bits/uio.h>``) on 64-bit.
"""

from __future__ import annotations

import ctypes


class IOVec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


class MsgHdr(ctypes.Structure):
    _fields_ = [("msg_name", ctypes.c_void_p), ("msg_namelen", ctypes.c_uint32),
                ("msg_iov", ctypes.POINTER(IOVec)), ("msg_iovlen", ctypes.c_size_t),
                ("msg_control", ctypes.c_void_p), ("msg_controllen", ctypes.c_size_t),
                ("msg_flags", ctypes.c_int)]


class MMsgHdr(ctypes.Structure):
    _fields_ = [("msg_hdr", MsgHdr), ("msg_len", ctypes.c_uint)]


def messages(payloads: list[bytes], count: int) -> tuple[ctypes.Array[MMsgHdr], list[object]]:
    """``count`` message headers cycling through ``payloads`` (connected or bound sockets:
    no address); and the buffers they point into, which must outlive the headers."""
    buffers = [ctypes.create_string_buffer(p, len(p)) for p in payloads]
    iovecs = (IOVec * count)()
    msgs = (MMsgHdr * count)()
    for i in range(count):
        buf = buffers[i % len(buffers)]
        iovecs[i].iov_base = ctypes.addressof(buf)
        iovecs[i].iov_len = len(buf)
        msgs[i].msg_hdr.msg_iov = ctypes.pointer(iovecs[i])
        msgs[i].msg_hdr.msg_iovlen = 1
    return msgs, [buffers, iovecs]
