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
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, TextIO

from cosem_reader import __version__
from cosem_reader.app.captures import capture_chunks
from cosem_reader.app.collector import DECODE_YOUNG_THRESHOLD, settle_after_start_up
from cosem_reader.app.exit_codes import (
    EX_DATAERR,
    EX_INTERRUPTED,
    EX_OK,
    EX_USAGE,
    exit_code_for,
)
from cosem_reader.errors import (
    CaptureError,
    ConfigError,
    CosemReaderError,
    FrameError,
    SegmentError,
)

if TYPE_CHECKING:
    from cosem_reader.cosem.obis import ObisCode
    from cosem_reader.cosem.readings import Notification
    from cosem_reader.security.ciphering import CipheredApdu

__all__ = ["main"]

log = logging.getLogger("cosem_reader")


# -- output ------------------------------------------------------------------------------


def describe_ciphered(ciphered: CipheredApdu) -> str:
    """One line about a ciphered APDU's security header."""
    from cosem_reader.cosem.manufacturers import manufacturer  # noqa: PLC0415

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
    from cosem_reader.cosem.manufacturers import manufacturer  # noqa: PLC0415
    from cosem_reader.cosem.readings import SCALE_FROM_PUSH, SCALE_FROM_USER  # noqa: PLC0415
    from cosem_reader.output.jsonout import dumps, is_raw_number, number_text  # noqa: PLC0415

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
            code, name = _code_and_name(reading.obis, language, template)
        else:
            code = f"[{reading.position}]"
            name = "(ohne OBIS-Code)" if language == "de" else "(no OBIS code)"
        value = reading.value
        if hasattr(value, "isoformat"):
            text = value.isoformat(sep=" ")  # type: ignore[union-attr]
        elif value is None:
            text = "-"
        elif type(value) is Decimal or type(value) is int:
            text = number_text(value)
        else:
            text = dumps(value).strip('"')
        if reading.unit:
            text += f" {reading.unit}"
        elif is_raw_number(reading):
            text += " (raw: scale unknown)"
        rows.append((code, name, text))
    width_code = max((len(code) for code, _, _ in rows), default=0)
    width_name = max((len(name) for _, name, _ in rows), default=0)
    lines = [head]
    origins = {reading.scale_origin for reading in notification.readings}
    profiles = sorted(origins - {None, SCALE_FROM_PUSH, SCALE_FROM_USER})  # type: ignore[type-var]
    if profiles:
        lines.append(f"  meter profile: {', '.join(profiles)}")  # type: ignore[arg-type]
    lines += [f"  {c.ljust(width_code)}  {n.ljust(width_name)}  {t}" for c, n, t in rows]
    return "\n".join(lines)


#: (code, name) of an OBIS code object per language and template: a push names the same
#: codes every second.  Keyed by id(), the entry holds the code so no other takes its id;
#: emptied past the limit, so ever new codes cannot grow it without end.
_NAMES: dict[tuple[int, str, str | None], tuple[ObisCode, str, str]] = {}
_NAMES_LIMIT = 4096


def _code_and_name(obis: ObisCode, language: str, template: str | None) -> tuple[str, str]:
    from cosem_reader.cosem.obis import format_name  # noqa: PLC0415

    found = _NAMES.get((id(obis), language, template))
    if found is None:
        if len(_NAMES) > _NAMES_LIMIT:
            _NAMES.clear()
        found = _NAMES[(id(obis), language, template)] = (
            obis, str(obis), format_name(obis, language, template)
        )
    return found[1], found[2]


class _ErrorReport:
    """Prints each kind of error once, then how many more of it followed.

    Link-layer and transport errors are warnings: bytes that never made a complete
    push (noise, a push cut off at either end of the capture, a transfer dropped for
    a lost part).  What goes wrong with a complete push is a failure.  Warnings wait
    until a complete push shows that the bytes are a capture at all; otherwise
    :meth:`no_push` sums them up in one line.
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.seen: dict[str, int] = {}
        self.warnings = 0
        self.failures = 0
        self._held: list[CosemReaderError] | None = []
        self._first_warning: CosemReaderError | None = None

    def add(self, error: CosemReaderError) -> None:
        warning = isinstance(error, FrameError | SegmentError)
        if warning:
            self.warnings += 1
            self._first_warning = self._first_warning or error
        else:
            self.failures += 1
            self.release()
        # Errors that differ only in numbers (offsets, frame counters) are one kind.
        shape = re.sub(r"[0-9A-F]{4,}|\d+", "#", error.message)
        kind = f"{type(error).__name__}:{error.hint}:{shape}"
        count = self.seen.get(kind, 0)
        self.seen[kind] = count + 1
        if count:
            return
        if warning and self._held is not None:
            self._held.append(error)
        else:
            self._print(error)

    def release(self) -> None:
        """A complete push came: the warnings held so far are worth printing."""
        held, self._held = self._held, None
        for error in held or ():
            self._print(error)

    def _print(self, error: CosemReaderError) -> None:
        severity = "warning" if isinstance(error, FrameError | SegmentError) else "error"
        print(f"cosem-reader: {error.layer} {severity}: {error}", file=self.stream)

    def finish(self) -> None:
        if self._held is not None:
            return  # no complete push: no_push() says it in one line
        for kind, count in self.seen.items():
            if count > 1:
                what = kind.split(":", 1)[0]
                print(f"cosem-reader: ({count - 1} more {what} like it)", file=self.stream)

    def no_push(self, source: str, size: int) -> None:
        """The one line for a capture in which no complete push was found."""
        if self._first_warning is None:
            print(
                "cosem-reader: error: no APDU found in the capture; check --layer and --hex",
                file=self.stream,
            )
            return
        first = self._first_warning
        print(
            f"cosem-reader: error: no meter push in {source} ({size} bytes; {self.warnings}"
            f" problem(s), the first: {first.message}); check that it is a capture of the"
            f" meter's customer interface, and --layer and --hex"
            + (f" ({first.hint})" if first.hint else ""),
            file=self.stream,
        )


class _DecodeOutput:
    """Prints each decoded push as it comes, in the format asked for."""

    def __init__(self, args: argparse.Namespace, out: TextIO, errors: _ErrorReport) -> None:
        self.args = args
        self.out = out
        self.errors = errors
        self.notifications = 0
        self.ciphered_without_key = 0
        self._notification_text = _notification_writer(args)

    def take(self, results: Sequence[Notification | CipheredApdu | CosemReaderError]) -> None:
        """Print the results of one chunk of input: one write, and one flush, for them all."""
        from cosem_reader.cosem.readings import Notification  # noqa: PLC0415

        texts: list[str] = []
        for result in results:
            if isinstance(result, CosemReaderError):
                # What came before the error is printed before it, as on a terminal.
                self._write(texts)
                self.errors.add(result)
            elif isinstance(result, Notification):
                self.notifications += 1
                self.errors.release()
                texts.append(self._notification_text(result))
            else:
                self.ciphered_without_key += 1
                self.errors.release()
                texts.append(self._ciphered_text(result))
        self._write(texts)
        self.out.flush()

    def _write(self, texts: list[str]) -> None:
        if texts:
            self.out.write("".join(texts))
            texts.clear()

    def _ciphered_text(self, ciphered: CipheredApdu) -> str:
        from cosem_reader.output.jsonout import ciphered_header, dumps  # noqa: PLC0415

        if self.args.format == "json":
            return dumps({**ciphered_header(ciphered), "key_needed": True}) + "\n"
        if self.args.format == "xml":
            from cosem_reader.output.gurux_xml import ciphered_to_xml  # noqa: PLC0415

            return ciphered_to_xml(ciphered) + "\n"
        return describe_ciphered(ciphered) + "\n"


def _key_option(value: str | None, flag: str) -> bytes | None:
    from cosem_reader.security.ciphering import parse_key  # noqa: PLC0415

    if value is None:
        return None
    if value.strip()[:2] in ("0x", "0X"):
        raise ConfigError(
            f"{flag} starts with 0x", hint="give the 32 hex digits without the 0x prefix"
        )
    return parse_key(value, flag)


def run_decode(args: argparse.Namespace) -> int:
    """``cosem-reader decode``: a capture to readings, offline, printed push by push."""
    # The decoding stack (and cryptography) is imported here, not at start-up, so that
    # `cosem-reader --version` and the other commands start quickly.
    from cosem_reader.cosem.readings import load_timezone  # noqa: PLC0415
    from cosem_reader.pipeline.decoder import Layer, StreamDecoder  # noqa: PLC0415

    key = _key_option(args.key, "--key")
    auth_key = _key_option(args.auth_key, "--auth-key")
    zone = load_timezone(args.timezone)
    layer: Layer = args.layer
    decoder = StreamDecoder(
        key=key,
        auth_key=auth_key,
        layer=layer,
        local_zone=zone,
        require_authentication=args.require_authentication,
    )
    errors = _ErrorReport(sys.stderr)
    output = _DecodeOutput(args, sys.stdout, errors)
    settle_after_start_up(collect=False, young=DECODE_YOUNG_THRESHOLD)
    source = "standard input" if args.file == "-" else args.file
    size = 0
    for chunk in capture_chunks(args.file, as_hex=args.hex):
        size += len(chunk)
        output.take(decoder.feed(chunk))
    if size == 0:
        raise CaptureError(f"{source} is empty")
    output.take(decoder.flush())
    errors.finish()
    decoded = output.notifications + output.ciphered_without_key
    if output.ciphered_without_key:
        print(
            f"cosem-reader: {output.ciphered_without_key} APDU(s) are ciphered and no key was"
            " given; pass --key with the 32 hex digits from your grid operator",
            file=sys.stderr,
        )
    if decoded == 0 and errors.failures == 0:
        errors.no_push(source, size)
        return EX_DATAERR
    if errors.warnings or errors.failures:
        print(
            f"cosem-reader: {decoded} push(es) decoded, {errors.failures} failed,"
            f" {errors.warnings} warning(s) about bytes that were no complete push",
            file=sys.stderr,
        )
    return EX_DATAERR if errors.failures or decoded == 0 else EX_OK


def _notification_writer(args: argparse.Namespace) -> Callable[[Notification], str]:
    """How decode writes a push in the format asked for, with its line end (chosen, and
    its module imported, once per run rather than per push)."""
    language, template = args.language, args.name_format
    if args.format == "json":
        from cosem_reader.output.jsonout import notification_json  # noqa: PLC0415

        return lambda notification: notification_json(notification, language, template) + "\n"
    if args.format == "xml":
        from cosem_reader.output.gurux_xml import apdu_to_xml  # noqa: PLC0415

        def xml(notification: Notification) -> str:
            if notification.tree is None:
                # A DSMR telegram is text, not an xDLMS APDU: Gurux has no XML for it.
                text = notification.apdu.decode("ascii", "replace").replace("--", "- -")
                return f"<!-- DSMR telegram\n{text}\n-->\n"
            return apdu_to_xml(notification.tree) + "\n"

        return xml
    return lambda notification: format_text(notification, language, template) + "\n\n"


# -- argument parsing -------------------------------------------------------------------


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of all subcommands, or of ``decode`` alone for ``decode``.

    ``decode`` parses the same without the others; leaving them out spares its start-up
    the daemon's, the settings' and MQTT's imports (about half of it).
    """
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
    decode.add_argument("file", metavar="FILE", nargs="?",
                        help="capture file, or - for standard input")
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
        choices=("auto", "mbus", "hdlc", "raw", "dsmr"),
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
    if command != "decode":
        from cosem_reader.app.discovery_command import add_discovery_command  # noqa: PLC0415

        _add_daemon_commands(commands)
        add_discovery_command(commands)
    _add_demo_flags(commands)
    _debug_after_commands(parser)
    return parser


def _debug_after_commands(parser: argparse.ArgumentParser) -> None:
    """``--debug`` after a subcommand too (``cosem-reader decode --debug …``).

    Suppressed by default, so a subcommand that is not given it leaves the
    top-level flag as it was.
    """
    # argparse names its subparsers nowhere but in these private attributes.
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in action.choices.values():
                if "--debug" in command._option_string_actions:
                    continue
                command.add_argument(
                    "--debug",
                    action="store_true",
                    default=argparse.SUPPRESS,
                    help="show tracebacks and debug logs",
                )
                _debug_after_commands(command)


def _add_daemon_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    try:
        from cosem_reader.app.daemon import add_commands  # noqa: PLC0415
    except ImportError:  # the daemon module is optional while it is being built
        return
    add_commands(commands)


def _add_demo_flags(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``--demo`` on decode and read: the demo capture shipped in the package."""
    from cosem_reader.demo import with_demo  # noqa: PLC0415

    for name, capture_dest in (("decode", "file"), ("read", "replay")):
        parser = commands.choices.get(name)
        if parser is None:
            continue
        parser.add_argument("--demo", action="store_true",
                            help="the bundled demo capture with its demo key (no meter needed)")
        parser.set_defaults(handler=with_demo(parser.get_default("handler"), capture_dest,
                                              required=name == "decode"))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cosem-reader`` command."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    if arguments == ["--version"]:
        # Answered before the subcommands (and their imports) are set up.
        print(f"cosem-reader {__version__}")
        return EX_OK
    # The top-level options take no value: the first other argument names the command.
    command = next((argument for argument in arguments if not argument.startswith("-")), None)
    parser = build_parser(command)
    args = parser.parse_args(arguments)
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
        return EX_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`cosem-reader decode … | head`): stop quietly, and keep
        # Python from complaining again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EX_OK
    except CosemReaderError as error:
        if args.debug:
            raise
        print(f"cosem-reader: error: {error}", file=sys.stderr)
        return exit_code_for(error)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
