"""The ``cosem-reader`` command line.

Every error a user can cause ends here as one line on stderr,
``cosem-reader: error: <what>; <how to fix>``, and an exit code from sysexits.h;
``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

from cosem_reader import __version__
from cosem_reader.captures import parse_hex_text, read_capture_file
from cosem_reader.errors import ConfigError, CosemReaderError, SourceError

if TYPE_CHECKING:
    from cosem_reader.readings import Notification
    from cosem_reader.security import CipheredApdu

__all__ = ["main"]

log = logging.getLogger("cosem_reader")

EX_OK = 0
EX_USAGE = 64
EX_DATAERR = 65
EX_NOINPUT = 66
EX_UNAVAILABLE = 69
EX_SOFTWARE = 70
EX_CONFIG = 78

#: FLAG manufacturer ids seen in system titles, for a friendlier header line.
MANUFACTURERS = {
    "KFM": "Kaifa",
    "SAG": "Sagemcom",
    "LGZ": "Landis+Gyr",
    "ISK": "Iskraemeco",
    "SMS": "Siemens",
    "ELS": "Elster/Honeywell",
    "KAM": "Kamstrup",
    "AIM": "Aidon",
    "DMO": "demo",
}


def manufacturer(system_title: bytes | None) -> str | None:
    """The meter maker named by the first three bytes of a system title, if printable."""
    if not system_title or len(system_title) < 3:
        return None
    flag = system_title[:3]
    if not all(0x41 <= byte <= 0x5A or 0x61 <= byte <= 0x7A for byte in flag):
        return None
    code = flag.decode("ascii").upper()
    return MANUFACTURERS.get(code, code)


# -- input -------------------------------------------------------------------------------

def read_capture(path: str, as_hex: bool) -> bytes:
    """The bytes of a capture file, or of stdin for ``-``."""
    if path != "-":
        return read_capture_file(path, as_hex=as_hex)
    data = sys.stdin.buffer.read()
    if as_hex:
        return parse_hex_text(data.decode("ascii", errors="replace"), "standard input")
    return data


# -- output ------------------------------------------------------------------------------


def describe_ciphered(ciphered: CipheredApdu) -> str:
    """One line about a ciphered APDU's security header."""
    security = ciphered.security
    title = ciphered.system_title.hex().upper() if ciphered.system_title else "?"
    maker = manufacturer(ciphered.system_title)
    parts = [
        f"{ciphered.kind}: system title {title}" + (f" ({maker})" if maker else ""),
        f"security control 0x{ciphered.security_control:02X} (suite {security.suite}, "
        + ("encrypted" if security.encrypted else "not encrypted")
        + (" and authenticated" if security.authenticated else "")
        + ")",
        f"frame counter {ciphered.frame_counter}",
        f"{len(ciphered.ciphertext)} bytes ciphertext",
    ]
    return ", ".join(parts)


def format_text(notification: Notification, language: str, template: str | None) -> str:
    """A readable table of one notification."""
    from cosem_reader.jsonout import dumps  # noqa: PLC0415
    from cosem_reader.obis import format_name  # noqa: PLC0415

    head = notification.timestamp.isoformat(sep=" ") if notification.timestamp else "(no time)"
    if notification.system_title is not None:
        maker = manufacturer(notification.system_title)
        head += f"  system title {notification.system_title.hex().upper()}"
        head += f" ({maker})" if maker else ""
    if notification.frame_counter is not None:
        head += f"  frame counter {notification.frame_counter}"
    rows: list[tuple[str, str, str]] = []
    for reading in notification.readings:
        if reading.obis is not None:
            code = str(reading.obis)
            name = format_name(reading.obis, language, template)
        else:
            code = f"[{reading.position}]"
            name = "(ohne OBIS-Code)" if language == "de" else "(no OBIS code)"
        value = reading.value
        if hasattr(value, "isoformat"):
            text = value.isoformat(sep=" ")  # type: ignore[union-attr]
        elif value is None:
            text = "-"
        else:
            text = dumps(value).strip('"')
        if reading.unit:
            text += f" {reading.unit}"
        rows.append((code, name, text))
    width_code = max((len(r[0]) for r in rows), default=0)
    width_name = max((len(r[1]) for r in rows), default=0)
    lines = [head]
    lines += [f"  {c:<{width_code}}  {n:<{width_name}}  {t}" for c, n, t in rows]
    return "\n".join(lines)


class _ErrorReport:
    """Prints each kind of error once, then how many more of it followed."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.seen: dict[str, int] = {}

    def add(self, error: CosemReaderError) -> None:
        # Errors that differ only in numbers (offsets, frame counters) are one kind.
        shape = re.sub(r"[0-9A-F]{4,}|\d+", "#", error.message)
        kind = f"{type(error).__name__}:{error.hint}:{shape}"
        count = self.seen.get(kind, 0)
        self.seen[kind] = count + 1
        if count == 0:
            print(f"cosem-reader: {error.layer} error: {error}", file=self.stream)

    def finish(self) -> None:
        for kind, count in self.seen.items():
            if count > 1:
                what = kind.split(":", 1)[0]
                print(f"cosem-reader: ({count - 1} more {what} like it)", file=self.stream)

    @property
    def count(self) -> int:
        return sum(self.seen.values())


def run_decode(args: argparse.Namespace) -> int:
    """``cosem-reader decode``: a capture to readings, offline."""
    # The decoding stack (and cryptography) is imported here, not at start-up, so that
    # `cosem-reader --version` and the other commands start quickly.
    from cosem_reader.jsonout import ciphered_header, dumps  # noqa: PLC0415
    from cosem_reader.pipeline import Decoded, Layer, StreamDecoder  # noqa: PLC0415
    from cosem_reader.readings import Notification, load_timezone  # noqa: PLC0415
    from cosem_reader.security import CipheredApdu, parse_key  # noqa: PLC0415

    key = parse_key(args.key, "--key") if args.key else None
    auth_key = parse_key(args.auth_key, "--auth-key") if args.auth_key else None
    zone = load_timezone(args.timezone)
    data = read_capture(args.file, args.hex)
    if not data:
        raise SourceError(f"{'standard input' if args.file == '-' else args.file} is empty")
    layer: Layer = args.layer
    decoder = StreamDecoder(key=key, auth_key=auth_key, layer=layer, local_zone=zone,
                            require_authentication=args.require_authentication)
    results: list[Decoded] = decoder.feed(data) + decoder.flush()
    out = sys.stdout
    errors = _ErrorReport(sys.stderr)
    notifications = 0
    ciphered_without_key = 0
    for result in results:
        if isinstance(result, Notification):
            notifications += 1
            _print_notification(result, args, out)
        elif isinstance(result, CipheredApdu):
            ciphered_without_key += 1
            if args.format == "json":
                print(dumps({**ciphered_header(result), "key_needed": True}), file=out)
            elif args.format == "xml":
                from cosem_reader.gurux_xml import ciphered_to_xml  # noqa: PLC0415

                print(ciphered_to_xml(result), file=out)
            else:
                print(describe_ciphered(result), file=out)
        else:
            errors.add(result)
    errors.finish()
    if ciphered_without_key:
        print(
            f"cosem-reader: {ciphered_without_key} APDU(s) are ciphered and no key was given;"
            " pass --key with the 32 hex digits from your grid operator",
            file=sys.stderr,
        )
    if notifications == 0 and ciphered_without_key == 0:
        if errors.count == 0:
            print(
                "cosem-reader: error: no APDU found in the capture; check --layer and --hex",
                file=sys.stderr,
            )
        return EX_DATAERR
    return EX_DATAERR if errors.count else EX_OK


def _print_notification(notification: Notification, args: argparse.Namespace, out: TextIO) -> None:
    from cosem_reader.jsonout import dumps, notification_to_dict  # noqa: PLC0415

    if args.format == "json":
        print(dumps(notification_to_dict(notification, args.language, args.name_format)), file=out)
    elif args.format == "xml":
        from cosem_reader.gurux_xml import apdu_to_xml  # noqa: PLC0415

        print(apdu_to_xml(notification.tree), file=out)
    else:
        print(format_text(notification, args.language, args.name_format), file=out)
        print(file=out)


# -- argument parsing -------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of all subcommands."""
    parser = argparse.ArgumentParser(
        prog="cosem-reader",
        description="Read DLMS/COSEM pushes from a smart meter's customer interface.",
    )
    parser.add_argument("--version", action="version", version=f"cosem-reader {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    decode = commands.add_parser(
        "decode",
        help="decode a capture file offline",
        description="Decode the pushes in a capture (raw bytes, or hex text with --hex).",
    )
    decode.add_argument("file", metavar="FILE", help="capture file, or - for standard input")
    decode.add_argument("--key", metavar="HEX", help="encryption key (GUEK), 32 hex digits")
    decode.add_argument("--auth-key", metavar="HEX", help="authentication key (GAK), 32 hex digits")
    decode.add_argument(
        "--require-authentication",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="only pushes with a verified tag and a rising frame counter count"
        " (default: on with --auth-key)",
    )
    decode.add_argument(
        "--layer",
        choices=("auto", "mbus", "hdlc", "raw"),
        default="auto",
        help="link layer of the capture (default: recognise it)",
    )
    decode.add_argument("--hex", action="store_true", help="the capture is hex text")
    decode.add_argument("--format", choices=("json", "text", "xml"), default="json")
    decode.add_argument(
        "--timezone",
        metavar="TZ",
        default=None,
        help="time zone for meter times without UTC deviation (default: the system's)",
    )
    decode.add_argument("--language", choices=("en", "de"), default="en", help="OBIS name language")
    decode.add_argument(
        "--name-format",
        metavar="TEMPLATE",
        default=None,
        help="OBIS name template, e.g. '[measurement] [measurementType] [tariff]'",
    )
    decode.set_defaults(handler=run_decode)
    _add_daemon_commands(commands)
    return parser


def _add_daemon_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    try:
        from cosem_reader.daemon import add_commands  # noqa: PLC0415
    except ImportError:  # the daemon module is optional while it is being built
        return
    add_commands(commands)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cosem-reader`` command."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    if arguments == ["--version"]:
        # Answered before the subcommands (and their imports) are set up.
        print(f"cosem-reader {__version__}")
        return EX_OK
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="cosem-reader: %(levelname)s: %(message)s",
    )
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return EX_USAGE
    try:
        code: int = args.handler(args)
        sys.stdout.flush()
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`cosem-reader decode … | head`): stop quietly, and keep
        # Python from complaining again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EX_OK
    except CosemReaderError as error:
        if args.debug:
            raise
        print(f"cosem-reader: error: {error}", file=sys.stderr)
        return _exit_code(error)
    return code


def _exit_code(error: CosemReaderError) -> int:
    if isinstance(error, ConfigError):
        return EX_CONFIG
    if isinstance(error, SourceError):
        # decode only reads captures: a missing, unreadable or garbled one is "no input"
        return EX_NOINPUT
    return EX_DATAERR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
