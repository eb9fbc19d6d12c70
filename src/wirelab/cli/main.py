"""Entry point of the ``wirelab`` command.

Subcommands live one per module in this package and are imported only when used, so that
``wirelab --help`` stays fast and a command that needs Scapy does not slow down one that
does not.  Each module exposes a click command (or group) named in :data:`COMMANDS`.

Every expected failure is a :class:`wirelab.errors.WirelabError`: it is printed on one line
(``wirelab: <reason>``) and the process exits with the error's code.  A traceback means a bug.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

import click

from wirelab import __version__
from wirelab.errors import ExitCode, WirelabError

# name -> (module, attribute, one-line help shown by ``wirelab --help``)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "dissect": ("wirelab.cli.dissect", "dissect", "Decode a capture file, like tshark."),
    "lab": ("wirelab.cli.lab", "lab", "Build, use and remove the hermetic namespace lab."),
    "udp": ("wirelab.cli.udp", "udp", "UDP server and client (curriculum 1.1)."),
    "http": ("wirelab.cli.http", "http", "HTTP/1.1 over a raw TCP socket (curriculum 1.2)."),
    "raw": ("wirelab.cli.raw", "raw", "Send headers packed by hand on a raw socket (1.4)."),
    "ping": ("wirelab.cli.ping", "ping", "ICMP echo crafted with Scapy (curriculum 2.1)."),
    "handshake": ("wirelab.cli.handshake", "handshake", "A TCP handshake by hand (2.2)."),
    "sniff": ("wirelab.cli.sniff", "sniff", "Live protocol counter that drops nothing (2.3)."),
    "proto": ("wirelab.cli.proto", "proto", "A custom protocol layer over UDP (2.4)."),
    "tour": ("wirelab.cli.tour", "tour", "The guided tour: what `make tour` runs."),
    "check": ("wirelab.cli.check", "check", "Run an exercise and verify it on the wire."),
    "lesson": ("wirelab.cli.lesson", "lesson", "Read an exercise's lesson in the terminal."),
    "flow": ("wirelab.cli.flow", "flow", "Ladder diagram of a capture (text, SVG, HTML)."),
    "follow": ("wirelab.cli.follow", "follow", "Reassembled bytes of a TCP stream."),
    "conversations": ("wirelab.cli.conversations", "conversations", "Streams of a capture."),
    "scan": ("wirelab.cli.scan", "scan", "TCP port scan with nmap's states (3)."),
    "discover": ("wirelab.cli.discover", "discover", "ARP sweep of the local segment (3)."),
    "stats": ("wirelab.cli.stats", "stats", "tshark's -z statistics of a capture (Module 4)."),
    "flows": ("wirelab.cli.flows", "flows", "Zeek conn.log-style flows of a capture."),
    "trace": ("wirelab.cli.trace", "trace", "Traceroute: udp, icmp or tcp; --paris (3)."),
    "top": ("wirelab.cli.top", "top", "Live top talkers of an interface (Module 4)."),
    "export": ("wirelab.cli.export", "export", "Flows to NetFlow v5, IPFIX or Parquet (4)."),
    "query": ("wirelab.cli.query", "query", "SQL over the Parquet flow history (DuckDB)."),
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in COMMANDS if _available(name))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS or not _available(cmd_name):
            return None
        module_name, attr, _ = COMMANDS[cmd_name]
        module = importlib.import_module(module_name)
        command: click.Command = getattr(module, attr)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _available(name: str) -> bool:
    module_name = COMMANDS[name][0]
    return importlib.util.find_spec(module_name) is not None


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Example: wirelab dissect capture.pcap -V -c 5\n\n"
    "Every command has --help with an example.  Exit status: 0 success, 1 a negative "
    "result, 2 bad usage, 3 bad input, 4 missing privilege, 5 lab error, 6 network error.",
)
@click.version_option(__version__, "--version", prog_name="wirelab")
def cli() -> None:
    """wirelab: networking from the bytes up, in a lab of its own.

    Every exercise of the curriculum as a real command, runnable offline in a
    hermetic lab of network namespaces, verifiable on the wire.
    """


def main(argv: list[str] | None = None) -> None:
    """Run the CLI, turning wirelab's errors into one line and an exit status."""
    try:
        # Outside standalone mode click returns ctx.exit(N)'s N instead of exiting.
        code = cli.main(args=argv, prog_name="wirelab", standalone_mode=False)
    except WirelabError as exc:
        click.echo(f"wirelab: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("wirelab: interrupted", err=True)
        sys.exit(ExitCode.INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("wirelab: interrupted", err=True)
        sys.exit(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        # `wirelab dissect big.pcap | head` closes our stdout early: not an error.
        sys.stderr.close()
        sys.exit(ExitCode.OK)
    sys.exit(code if isinstance(code, int) else ExitCode.OK)


if __name__ == "__main__":
    main()
