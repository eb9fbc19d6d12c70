"""Real peers for the Module 1 tests: the wirelab command, a UDP server process, nginx,
tcpdump, and a tiny scripted HTTP origin built on a plain listening socket.

``Nginx`` is also the server of ``bench/bench_http.py``: one launcher, one configuration."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from ..helpers import read_until

WIRELAB = str(Path(sys.executable).with_name("wirelab"))


def wirelab(*args: str, input: bytes | None = None, timeout: float = 30.0,
            prefix: Sequence[str] = ()) -> subprocess.CompletedProcess[bytes]:
    """Run ``wirelab ARGS`` and collect bytes output."""
    return subprocess.run([*prefix, WIRELAB, *args], input=input, capture_output=True,
                          timeout=timeout, check=False)


def free_port(kind: int = socket.SOCK_STREAM, host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, kind) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class ServeProcess:
    """``wirelab udp serve`` running as a separate process (a real receiver)."""

    def __init__(self, *args: str, prefix: Sequence[str] = ()) -> None:
        self.proc = subprocess.Popen([*prefix, WIRELAB, "udp", "serve", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.banner = read_until(self.proc, b"listening on")

    def stop(self, sig: int = signal.SIGINT, timeout: float = 10.0) -> tuple[int, str, str]:
        """Send ``sig`` (unless it already ended) and return (status, stdout, stderr)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out.decode(), (self.banner + err).decode()

    def wait(self, timeout: float = 10.0) -> tuple[int, str, str]:
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out.decode(), (self.banner + err).decode()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


def wait_port(host: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


# --- nginx ---------------------------------------------------------------------------------

NGINX_CONF = """\
{user}
worker_processes 1;
error_log {d}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    sendfile on;
    client_body_temp_path {d}/tmp_body;
    proxy_temp_path {d}/tmp_proxy;
    fastcgi_temp_path {d}/tmp_fcgi;
    uwsgi_temp_path {d}/tmp_uwsgi;
    scgi_temp_path {d}/tmp_scgi;
    default_type application/octet-stream;
    types {{ text/plain txt; }}
    gzip on;
    gzip_min_length 1;
    gzip_types text/plain;
    server {{
        listen 127.0.0.1:{port};
        root {d}/root;
        location = /status204 {{ return 204; }}
    }}
}}
"""


class Nginx:
    """A real nginx on a free loopback port, serving ``root``; stopped by its PID.

    ``sendfile on``, as nginx is usually deployed: a file body goes from the page cache to the
    socket without a copy through user space (nginx turns it off by itself for the bodies it
    gzips).  The bytes on the wire are the same either way; the benchmark wants the server
    as fast as it can be, so that the client is what is measured.
    """

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.root = workdir / "root"
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> Nginx:
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        conf = self.dir / "nginx.conf"
        # As root the workers would switch to "nobody", who cannot read a pytest temp dir.
        user = "user root root;" if os.geteuid() == 0 else ""
        conf.write_text(NGINX_CONF.format(d=self.dir, port=self.port, user=user))
        self.proc = subprocess.Popen(
            [nginx, "-c", str(conf), "-p", str(self.dir), "-e", str(self.dir / "error.log"),
             "-g", f"daemon off; pid {self.dir / 'nginx.pid'};"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_port("127.0.0.1", self.port)
        except OSError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # the master, by PID; it ends its worker itself
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# --- a scripted origin ---------------------------------------------------------------------


class ScriptedOrigin:
    """A TCP server on loopback that answers every connection with the same scripted bytes.

    ``script`` is a list of steps: ``bytes`` to send, a float to sleep, ``"close"`` to end
    the connection, ``"hold"`` to keep it open without sending anything (until the test
    ends).  Requests are recorded raw in ``requests``.
    """

    def __init__(self, script: list[bytes | float | str]) -> None:
        self.script = script
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = int(self.listener.getsockname()[1])
        self.requests: list[bytes] = []
        self.stopped = threading.Event()
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> ScriptedOrigin:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
        except OSError:
            pass
        self.listener.close()
        for conn in self.held:
            conn.close()
        self.thread.join(timeout=5)

    def _loop(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self._answer(conn)

    def _read_request(self, conn: socket.socket) -> bytes:
        data = b""
        conn.settimeout(5)
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return data
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                want = int(value)
                while len(body) < want:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    body += chunk
        return head + b"\r\n\r\n" + body

    def _answer(self, conn: socket.socket) -> None:
        try:
            self.requests.append(self._read_request(conn))
            for step in self.script:
                if isinstance(step, bytes):
                    conn.sendall(step)
                elif isinstance(step, float):
                    time.sleep(step)
                elif step == "hold":
                    self.held.append(conn)
                    return
                elif step == "close":
                    break
        except OSError:
            pass
        conn.close()
