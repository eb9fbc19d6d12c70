"""One error hierarchy for all of wirelab.

Every failure that a user can cause or meet (bad input, a missing privilege, no lab, a peer
that breaks a protocol) is a :class:`WirelabError`.  The CLI prints ``str(error)`` on one line
and exits with ``error.exit_code``; any other exception reaching the CLI is a bug.

Decoders raise :class:`DecodeError` subclasses only.  Low-level ``struct.error`` and
``IndexError`` are translated where they happen and never escape a decoder.  A wrong checksum
is not an error: decoders report it (``checksum_ok``) so that broken packets can be studied.
"""

from __future__ import annotations


class ExitCode:
    """Distinct exit statuses of the ``wirelab`` command."""

    OK = 0
    FAILED = 1  # the tool ran and the answer is "no" (check FAIL, host unreachable, ...)
    USAGE = 2  # bad command line (click uses 2 as well)
    BAD_INPUT = 3  # malformed file or packet, bad argument value
    PRIVILEGE = 4  # missing CAP_NET_RAW / CAP_NET_ADMIN / user namespaces
    LAB = 5  # no such lab, lab cannot be built
    NETWORK = 6  # refused, timed out, unreachable, peer broke the protocol
    INTERRUPTED = 130


class WirelabError(Exception):
    """Base of every error that wirelab reports to its user."""

    exit_code: int = ExitCode.FAILED


# --- malformed input ---------------------------------------------------------------------


class DecodeError(WirelabError):
    """Bytes that do not decode as the layer claims to be.

    ``layer`` names the protocol (``"IPv4"``), ``field`` the field that was being read
    (``"ihl"``) and ``offset`` the byte offset of that field from the start of the buffer
    handed to the outermost decoder, when it is known.
    """

    exit_code = ExitCode.BAD_INPUT

    def __init__(
        self, layer: str, field: str | None, offset: int | None, detail: str = ""
    ) -> None:
        self.layer = layer
        self.field = field
        self.offset = offset
        self.detail = detail
        super().__init__(self._message())

    def _message(self) -> str:
        where = self.layer
        if self.field:
            where += f".{self.field}"
        if self.offset is not None:
            where += f" at byte {self.offset}"
        kind = self.kind
        return f"{where}: {kind}" + (f": {self.detail}" if self.detail else "")

    kind = "malformed"

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.layer, self.field, self.offset, self.detail))


class TruncatedError(DecodeError):
    """The buffer ends before the field or the length the header announces."""

    kind = "truncated"


class BadFieldError(DecodeError):
    """A field holds a value the protocol forbids (IHL < 5, a version that is not 4, ...)."""

    kind = "bad field"


class TrailingDataError(DecodeError):
    """Bytes are left over where the format says the data must end."""

    kind = "trailing data"


class BadPointerError(BadFieldError):
    """A DNS compression pointer that does not point strictly backwards."""

    kind = "bad compression pointer"


class CaptureFormatError(WirelabError):
    """A capture file whose header or block structure is corrupt."""

    exit_code = ExitCode.BAD_INPUT


class EncodeError(WirelabError):
    """A header that cannot be encoded as asked (a port above 65535, a name label over 63)."""

    exit_code = ExitCode.BAD_INPUT


# --- environment ---------------------------------------------------------------------------


class PrivilegeError(WirelabError):
    """The operation needs a capability the process does not have."""

    exit_code = ExitCode.PRIVILEGE


class LabError(WirelabError):
    """The lab does not exist, cannot be built, or a host or link is unknown."""

    exit_code = ExitCode.LAB


class NetworkError(WirelabError):
    """Refused, timed out, unreachable, or the peer broke the protocol."""

    exit_code = ExitCode.NETWORK


class ToolMissingError(WirelabError):
    """A system tool (tshark, tcpdump, iptables, ...) that this operation uses is missing."""

    exit_code = ExitCode.LAB
