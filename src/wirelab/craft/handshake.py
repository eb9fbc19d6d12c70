"""A TCP connection made by hand with Scapy (curriculum 2.2).

The curriculum's script has two defects that make it fail on any real network:

- ``RandShort()`` is used without being imported (NameError), and even once imported it is
  a *volatile* value: every access draws a new number, so ``tcp_syn.sport`` read for the ACK
  is not the port the SYN left from.  We take a port once, from the kernel (bind to port 0),
  and keep the socket bound so nothing else in this host can take it while we use it.
- The kernel, which never opened this connection, answers the SYN-ACK with a RST and the
  server forgets the connection.  :mod:`wirelab.craft.firewall` drops exactly those RSTs
  while the command runs.

With the numbers right (RFC 9293 section 3.5: our ACK has seq = ISS + 1 = the server's ack
field, and ack = the server's ISN + 1), the server's kernel moves the connection to
ESTABLISHED.  Optionally we then send an HTTP request on it, acknowledge every segment of the
response (h11 tells us when the response is complete), and close with FINs from both sides
(RFC 9293 section 3.6).
"""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wirelab.craft.firewall import FourTuple, rst_suppressed
from wirelab.craft.ladder import ACK, Segment
from wirelab.craft.ping import resolve
from wirelab.craft.privilege import require_raw_socket
from wirelab.craft.scapy_env import l3_socket, scapy_conf, send_l3
from wirelab.errors import EncodeError, NetworkError

FIN, SYN, RST, PSH = 0x01, 0x02, 0x04, 0x08
WINDOW = 64240  # what Linux advertises in a SYN; no window scaling, so also our steady window
MSS = 1460  # RFC 9293 section 3.7.1: Ethernet MTU 1500 - 20 (IPv4) - 20 (TCP)
RETRIES = 3  # sends of a SYN, a request or a FIN before we give up


@dataclass
class Outcome:
    """What the command achieved, for the summary and ``--json``."""

    client: str
    server: str
    state: str = "CLOSED"  # our view of the connection (RFC 9293 section 3.3.2 names)
    segments: list[Segment] = field(default_factory=list)
    status: int | None = None
    reason: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    rule: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        response = None
        if self.status is not None:
            response = {"status": self.status, "reason": self.reason,
                        "headers": self.headers,
                        "body": self.body.decode("utf-8", "replace")}
        return {"client": self.client, "server": self.server, "state": self.state,
                "rst_rule": self.rule, "segments": [s.to_dict() for s in self.segments],
                "response": response}


class ManualConnection:
    """One TCP connection whose every segment we build and read ourselves."""

    def __init__(self, host: str, port: int, sport: int | None = None,
                 timeout: float = 2.0, emit: Callable[[Segment], None] | None = None) -> None:
        if not 1 <= port <= 65535 or (sport is not None and not 1 <= sport <= 65535):
            raise EncodeError("ports must be between 1 and 65535")
        require_raw_socket("handshake")
        self.conf = scapy_conf()
        self.host = host
        self.dst = resolve(host)
        iface, src, _gateway = self.conf.route.route(self.dst)
        if src in (None, "0.0.0.0"):
            raise NetworkError(f"no route to {self.dst} from this host")
        self.src: str = src
        self.dport = port
        self.timeout = timeout
        self.emit = emit or (lambda seg: None)
        self._reservation = self._reserve_port(sport)
        self.sport: int = self._reservation.getsockname()[1]
        self.iss = random.getrandbits(32)  # RFC 9293 section 3.4.1: unpredictable ISN
        self.irs = 0
        self._have_irs = False
        self.snd_nxt = self.iss
        self.snd_una = self.iss
        self.rcv_nxt = 0
        self.peer_fin = False
        self.outcome = Outcome(client=f"{self.src}:{self.sport}", server=f"{self.dst}:{port}")
        self._t0 = 0.0
        self._sock: Any = None

    # --- setup ---------------------------------------------------------------------------

    def _reserve_port(self, sport: int | None) -> socket.socket:
        """Bind a TCP socket to the source port so that the kernel lends it to no one else.

        A bound socket that neither listens nor connects matches no incoming segment, so it
        does not take our SYN-ACK away from us (the kernel still answers it with a RST,
        which the firewall rule drops).
        """
        reservation = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            reservation.bind((self.src, sport or 0))
        except OSError as exc:
            reservation.close()
            raise NetworkError(f"source port {sport} is not free here: {exc.strerror}") from None
        return reservation

    @property
    def four_tuple(self) -> FourTuple:
        return FourTuple(self.src, self.sport, self.dst, self.dport)

    def run(self, get_path: str | None = None, close: bool = False,
            on_guard: Callable[[list[str]], None] | None = None) -> Outcome:
        """Handshake, then optionally GET ``get_path`` and close; return what happened.

        ``on_guard`` is called with the RST-drop rule once it is in place, before the SYN.
        """
        try:
            with rst_suppressed(self.four_tuple) as rule:
                self.outcome.rule = rule
                if on_guard is not None:
                    on_guard(rule)
                self._sock = l3_socket(f"host {self.dst} and (tcp port {self.sport} or icmp)")
                try:
                    self._handshake()
                    if get_path is not None:
                        self._get(get_path)
                    if close:
                        self._close()
                finally:
                    self._sock.close()
        finally:
            self._reservation.close()
        return self.outcome

    # --- segments ------------------------------------------------------------------------

    def _send(self, flags: int, payload: bytes = b"", seq: int | None = None,
              note: str = "") -> None:
        from scapy.layers.inet import IP, TCP

        seq = self.snd_nxt if seq is None else seq
        options = [("MSS", MSS)] if flags & SYN else []
        ack = self.rcv_nxt if flags & ACK else 0
        packet = (IP(src=self.src, dst=self.dst)
                  / TCP(sport=self.sport, dport=self.dport, seq=seq, ack=ack, flags=flags,
                        window=WINDOW, options=options))
        if payload:
            packet = packet / payload
        send_l3(self._sock, packet)
        if not self._t0:
            self._t0 = time.monotonic()
        self._record(True, flags, seq - self.iss, ack - self.irs if flags & ACK else 0,
                     len(payload), WINDOW, note)

    def _record(self, outgoing: bool, flags: int, rel_seq: int, rel_ack: int, length: int,
                window: int, note: str) -> None:
        seg = Segment(outgoing=outgoing, flags=flags, seq=rel_seq % 2**32,
                      ack=rel_ack % 2**32, length=length, window=window,
                      at_ms=(time.monotonic() - self._t0) * 1000.0, note=note)
        self.outcome.segments.append(seg)
        self.emit(seg)

    def _receive(self, wait: float) -> Any:
        """The next segment (or ICMP error) of this connection within ``wait`` seconds."""
        from scapy.layers.inet import ICMP, IP, TCP, TCPerror

        deadline = time.monotonic() + wait
        while (remaining := deadline - time.monotonic()) > 0:
            for ready in self._sock.select([self._sock], remaining):
                packet = ready.recv()
                if packet is None or IP not in packet or packet[IP].src != self.dst:
                    continue
                if TCP in packet:
                    tcp = packet[TCP]
                    if tcp.sport == self.dport and tcp.dport == self.sport:
                        return packet
                elif ICMP in packet and TCPerror in packet:
                    quoted = packet[TCPerror]
                    if quoted.sport == self.sport and quoted.dport == self.dport:
                        return packet
        return None

    def _note_incoming(self, packet: Any, note: str = "") -> Any:
        from scapy.layers.inet import TCP

        tcp = packet[TCP]
        flags = int(tcp.flags)
        base = self.irs if self._have_irs else tcp.seq
        self._record(False, flags, tcp.seq - base, tcp.ack - self.iss if flags & ACK else 0,
                     len(bytes(tcp.payload)), tcp.window, note)
        return tcp

    # --- the three phases ----------------------------------------------------------------

    def _handshake(self) -> None:
        from scapy.layers.inet import ICMP, TCP

        for attempt in range(RETRIES):
            self._send(SYN, note="" if attempt == 0 else "(retransmission)")
            reply = self._receive(self.timeout)
            if reply is not None:
                break
        else:
            raise NetworkError(
                f"no answer to {RETRIES} SYNs in {RETRIES * self.timeout:g} s: port "
                f"{self.dport} on {self.host} is filtered (or the host is down)")
        if TCP not in reply:
            icmp = reply[ICMP]
            raise NetworkError(f"{reply.src} answered the SYN with ICMP type {icmp.type} code "
                               f"{icmp.code}: port {self.dport} on {self.host} is unreachable")
        flags = int(reply[TCP].flags)
        if flags & RST:
            self._note_incoming(reply, "refused")
            raise NetworkError(f"port {self.dport} on {self.host} is closed: the SYN was "
                               f"answered with {'RST, ACK' if flags & ACK else 'RST'}")
        if flags & (SYN | ACK) != SYN | ACK or reply[TCP].ack != (self.iss + 1) % 2**32:
            self._note_incoming(reply, "unexpected")
            raise NetworkError("the answer to our SYN was not a SYN-ACK acknowledging it")
        self.irs = reply[TCP].seq
        self._have_irs = True
        self._note_incoming(reply)
        self.snd_nxt = self.snd_una = reply[TCP].ack  # = ISS + 1
        self.rcv_nxt = (self.irs + 1) % 2**32
        self._send(ACK)
        self.outcome.state = "ESTABLISHED"

    def _segment_in(self, packet: Any) -> bytes:
        """Take one incoming segment into account; return its in-order payload.

        Every segment carrying data or a FIN is acknowledged at once (a cumulative ACK,
        RFC 9293 section 3.10.7.4); a segment out of order gets a duplicate ACK and its
        payload is dropped, to be retransmitted by the server.
        """
        tcp = self._note_incoming(packet)
        flags = int(tcp.flags)
        if flags & RST:
            self.outcome.state = "CLOSED"
            raise NetworkError(f"{self.host} reset the connection")
        if flags & ACK and (tcp.ack - self.snd_una) % 2**32 <= (self.snd_nxt - self.snd_una):
            self.snd_una = tcp.ack
        payload = bytes(tcp.payload)
        in_order = tcp.seq == self.rcv_nxt
        if in_order:
            self.rcv_nxt = (self.rcv_nxt + len(payload)) % 2**32
            if flags & FIN:
                self.rcv_nxt = (self.rcv_nxt + 1) % 2**32
                self.peer_fin = True
        if payload or flags & FIN:
            self._send(ACK, note="" if in_order else "(duplicate ACK: out of order)")
        return payload if in_order else b""

    def _get(self, path: str) -> None:
        import h11

        http = h11.Connection(h11.CLIENT)
        request = http.send(h11.Request(method="GET", target=path, headers=[
            ("Host", self.host), ("User-Agent", "wirelab-handshake"), ("Accept", "*/*")]))
        request += http.send(h11.EndOfMessage()) or b""
        start = self.snd_nxt
        self.snd_nxt = (start + len(request)) % 2**32
        self._send(PSH | ACK, request, seq=start, note=f"GET {path}")
        body = bytearray()
        tries = 1
        while True:
            packet = self._receive(self.timeout)
            if packet is None:
                if self.snd_una != self.snd_nxt and tries < RETRIES:
                    tries += 1
                    self._send(PSH | ACK, request, seq=start, note="(retransmission)")
                    continue
                raise NetworkError(f"the response to GET {path} did not arrive in time")
            if self._take_response(http, self._segment_in(packet), body):
                break
        self.outcome.body = bytes(body)

    def _take_response(self, http: Any, data: bytes, body: bytearray) -> bool:
        """Feed h11; return True once the response is complete."""
        import h11

        if data:
            http.receive_data(data)
        if self.peer_fin:
            http.receive_data(b"")
        while True:
            event = http.next_event()
            if event is h11.NEED_DATA:
                if self.peer_fin:
                    raise NetworkError("the server closed before the response was complete")
                return False
            if isinstance(event, h11.Response):
                self.outcome.status = event.status_code
                self.outcome.reason = event.reason.decode("latin-1")
                self.outcome.headers = [(k.decode("latin-1"), v.decode("latin-1"))
                                        for k, v in event.headers]
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                return True

    def _close(self) -> None:
        """Send our FIN, and wait until it is acknowledged and the server's FIN arrived."""
        fin_seq = self.snd_nxt
        self.snd_nxt = (fin_seq + 1) % 2**32
        self._send(FIN | ACK, seq=fin_seq)
        tries = 1
        while self.snd_una != self.snd_nxt or not self.peer_fin:
            packet = self._receive(self.timeout)
            if packet is None:
                if tries >= RETRIES:
                    raise NetworkError("the server did not finish closing the connection")
                tries += 1
                self._send(FIN | ACK, seq=fin_seq, note="(retransmission)")
                continue
            self._segment_in(packet)
        # We sent the last ACK: RFC 9293 puts us in TIME-WAIT, the server in CLOSED.
        self.outcome.state = "TIME-WAIT"
