"""``cosem-reader read``: the daemon, and ``cosem-reader config check``.

One :class:`~cosem_reader.app.runner.MeterRunner` thread per meter reads its byte
source and hands every reading on the moment its last byte arrives: to MQTT
(:class:`~cosem_reader.output.mqtt.MqttPublisher`) or, without MQTT, to the
console (:mod:`~cosem_reader.app.console`).  This module starts and stops them
(SIGTERM, SIGINT) and parses the command line.

Nothing a meter sends stops the daemon.  A wrong key is logged once per
``error_log_interval`` with a count, the meter is marked offline, and reading
goes on — the user may be fixing the key.  A lost or silent port is reported
once and reopened with back-off.

Exit codes (:mod:`~cosem_reader.app.exit_codes`, sysexits.h): 0 stopped by
SIGTERM/SIGINT or the end of a replay, 65 (EX_DATAERR) ``--once`` met a wrong key
or a replay held no reading, 66 (EX_NOINPUT) the replay is missing or unreadable,
69 (EX_UNAVAILABLE) ``--once`` could not open the port (without ``--once`` the
daemon waits for it) or the recording cannot be written, 70 (EX_SOFTWARE) a bug,
78 (EX_CONFIG) a configuration error — systemd's ``RestartPreventExitStatus=78``
keeps a broken config from restarting in a loop.  With several meters the most
severe of their codes.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

from cosem_reader.app.collector import settle_after_start_up
from cosem_reader.app.config import (
    OPTIONS,
    ConfigProblems,
    MeterSettings,
    Settings,
    load_settings,
    render_settings,
)
from cosem_reader.app.config_import import add_import_command
from cosem_reader.app.console import Console
from cosem_reader.app.exit_codes import (
    EX_CONFIG,
    EX_DATAERR,
    EX_NOINPUT,
    EX_OK,
    EX_SOFTWARE,
    EX_UNAVAILABLE,
    EX_USAGE,
    most_severe,
)
from cosem_reader.app.logs import RedactingFilter, configure_logging
from cosem_reader.app.runner import MeterRunner
from cosem_reader.errors import ConfigError

__all__ = [
    "EX_CONFIG",
    "EX_DATAERR",
    "EX_NOINPUT",
    "EX_OK",
    "EX_SOFTWARE",
    "EX_UNAVAILABLE",
    "MeterRunner",
    "RedactingFilter",
    "add_commands",
    "configure_logging",
    "run_config_check",
    "run_read",
]

if TYPE_CHECKING:
    from cosem_reader.output.spool import SpoolCounterStore

log = logging.getLogger(__name__)

#: ``--trace`` names and the debug switches each one turns on.
TRACE_LAYERS: dict[str, tuple[str, ...]] = {
    "serial": ("log_serial",),
    "telegram": ("log_telegram_raw", "log_telegram_json"),
    "apdu": ("log_apdu_raw", "log_apdu_json", "log_apdu_encrypted_hex", "log_apdu_decrypted_hex"),
    "cosem": ("log_cosem_json",),
    "xml": ("log_cosem_xml",),
    "obis": ("log_obis_json", "log_obis_plain"),
    "timings": ("log_timings",),
}


# -- the commands -------------------------------------------------------------------------


def _publisher_for(meter: MeterSettings, settings: Settings) -> Any | None:
    if not settings.mqtt_enabled:
        return None
    from cosem_reader.output.mqtt import MqttPublisher  # noqa: PLC0415

    mqtt = settings.mqtt
    if meter.topic_base:
        mqtt = dataclasses.replace(mqtt, topic_base=meter.topic_base)
    return MqttPublisher(mqtt, meter.name)


def _spool_counters(publisher: Any | None) -> SpoolCounterStore | None:
    """With ``mqtt.spool`` the frame counters outlive the process, so a replayed push is
    refused after a restart too; without one they are kept in memory."""
    spool = getattr(publisher, "spool", None)
    if spool is None:
        return None
    from cosem_reader.output.spool import SpoolCounterStore  # noqa: PLC0415 (sqlite3 only with a spool)

    return SpoolCounterStore(spool)


def _apply_trace(settings: Settings, names: str | None) -> Settings:
    if not names:
        return settings
    chosen = [part.strip().lower() for part in names.split(",") if part.strip()]
    switches: dict[str, bool] = {}
    for name in chosen:
        if name == "all":
            for group in TRACE_LAYERS.values():
                switches.update(dict.fromkeys(group, True))
        elif name in TRACE_LAYERS:
            switches.update(dict.fromkeys(TRACE_LAYERS[name], True))
        else:
            raise ConfigProblems([ConfigError(
                f"--trace: unknown layer {name!r}",
                hint="use " + ", ".join([*TRACE_LAYERS, "all"]),
            )])
    return dataclasses.replace(settings, debug=dataclasses.replace(settings.debug, **switches))


def _flags(args: argparse.Namespace) -> dict[str, Any]:
    return {
        option.flag.lstrip("-").replace("-", "_"): getattr(
            args, option.flag.lstrip("-").replace("-", "_"), None
        )
        for option in OPTIONS
        if option.flag
    }


def _report_config(error: ConfigError, stream: TextIO) -> int:
    problems = error.problems if isinstance(error, ConfigProblems) else [error]
    for problem in problems:
        print(f"cosem-reader: config error: {problem}", file=stream)
    return EX_CONFIG


def run_read(args: argparse.Namespace) -> int:
    """``cosem-reader read``: read meters until SIGTERM/SIGINT (or the replay ends)."""
    try:
        settings = load_settings(args.config, _flags(args))
        settings = _apply_trace(settings, getattr(args, "trace", None))
    except ConfigError as error:
        return _report_config(error, sys.stderr)
    level = "debug" if getattr(args, "debug", False) else settings.log_level
    configure_logging(level, settings.secrets)
    for warning in settings.warnings:
        log.warning("%s", warning)
    return run_settings(settings)


def run_settings(settings: Settings, console_stream: TextIO | None = None) -> int:
    """Run the meters of ``settings`` until stopped; the process's exit code."""
    stop = threading.Event()
    # Set when a runner ends or a signal comes: the end of a replay is seen at once,
    # not at the next look (a tenth of a second, on average, of every replay).
    wake = threading.Event()
    console = None if settings.mqtt_enabled else Console(settings, console_stream)
    runners: list[MeterRunner] = []
    counter_stores: list[SpoolCounterStore] = []
    for meter in settings.meters:
        publisher = _publisher_for(meter, settings)
        counters = _spool_counters(publisher)
        if counters is not None:
            counter_stores.append(counters)
        runners.append(
            MeterRunner(
                meter, settings, stop, console=console, publisher=publisher,
                counter_store=counters, on_finished=wake.set,
            )
        )
    signals = _install_signal_handlers(stop, wake)
    settle_after_start_up()
    try:
        for runner in runners:
            if runner.publisher is not None:
                runner.publisher.start()
            runner.thread.start()
        while not stop.is_set():
            wake.clear()
            if all(runner.finished for runner in runners):
                break
            failed = [r for r in runners if r.finished and r.exit_code == EX_SOFTWARE]
            if failed:
                # One meter's thread died of a bug: let systemd restart the whole thing.
                stop.set()
                break
            wake.wait(0.2)
        stop.set()
        for runner in runners:
            runner.thread.join(timeout=10)
    finally:
        for counters in counter_stores:
            counters.flush()  # before the publishers close their spools
        # All publishers share one budget, so the process is gone within 5 s of SIGTERM.
        deadline = time.monotonic() + 4.0
        for runner in runners:
            if runner.publisher is not None:
                try:
                    runner.publisher.stop(timeout=max(0.5, deadline - time.monotonic()))
                except Exception:
                    log.exception("%sstopping the MQTT publisher failed", runner.label)
        _restore_signal_handlers(signals)
    return most_severe(runner.exit_code for runner in runners)


def _install_signal_handlers(stop: threading.Event, wake: threading.Event) -> dict[int, Any]:
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous: dict[int, Any] = {}

    def handler(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        log.info("stopping (%s)", signal.Signals(signum).name)
        stop.set()
        wake.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        previous[signum] = signal.signal(signum, handler)
    return previous


def _restore_signal_handlers(previous: dict[int, Any]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def run_config_check(args: argparse.Namespace) -> int:
    """``cosem-reader config check``: validate, then print the effective settings redacted."""
    try:
        settings = load_settings(args.config, _flags(args))
    except ConfigError as error:
        return _report_config(error, sys.stderr)
    for warning in settings.warnings:
        print(f"cosem-reader: warning: {warning}", file=sys.stderr)
    print(render_settings(settings, as_json=args.json))
    return EX_OK


# -- argument parsing -------------------------------------------------------------------


def _add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per option that has one; values are checked by the config loader."""
    parser.add_argument("--config", metavar="FILE", help="TOML config file (default: "
                        "./cosem-reader.toml, ~/.config/cosem-reader/config.toml, "
                        "/etc/cosem-reader/config.toml)")
    for option in OPTIONS:
        if option.flag is None:
            continue
        dest = option.flag.lstrip("-").replace("-", "_")
        text = option.help
        if option.default not in (None, (), ""):
            text += f" (default: {option.default})"
        if option.kind == "bool":
            parser.add_argument(option.flag, dest=dest, action="store_const", const="true",
                                default=None, help=text)
        elif option.kind == "choice":
            parser.add_argument(option.flag, dest=dest, metavar="|".join(option.choices),
                                default=None, help=text)
        else:
            metavar = "HEX" if option.kind == "key" else option.key.upper()
            parser.add_argument(option.flag, dest=dest, metavar=metavar, default=None, help=text)


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``read`` and ``config check`` to the ``cosem-reader`` command line."""
    read = commands.add_parser(
        "read",
        help="read a meter 24/7 and publish to MQTT or the console",
        description="Read pushes from a serial port (or a capture) and hand every reading "
        "to MQTT, or print it. Flags override environment variables (COSEM_READER_*), "
        "which override the config file.",
    )
    _add_setting_flags(read)
    read.add_argument("--trace", metavar="LAYERS", help="turn on the per-layer debug logs: "
                      + ", ".join([*TRACE_LAYERS, "all"]) + " (comma-separated)")
    read.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                      help="log at debug level and show tracebacks")
    read.set_defaults(handler=run_read)

    config = commands.add_parser("config", help="check or import the configuration")
    actions = config.add_subparsers(dest="config_command", metavar="ACTION")
    check = actions.add_parser(
        "check",
        help="validate the config and print the effective settings (secrets redacted)",
        description="Validate the settings (file, environment, flags) and print them with "
        "keys and passwords as ***. Exit code 78 on a problem.",
    )
    _add_setting_flags(check)
    check.add_argument("--json", action="store_true", help="print JSON instead of TOML")
    check.set_defaults(handler=run_config_check)
    add_import_command(actions)
    config.set_defaults(handler=_config_usage(config))


def _config_usage(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    def usage(_args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return EX_USAGE

    return usage


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m cosem_reader.app.daemon``: the read command alone (for tests and debugging)."""
    parser = argparse.ArgumentParser(prog="cosem-reader")
    commands = parser.add_subparsers(dest="command")
    add_commands(commands)
    args = parser.parse_args(["read", *(argv if argv is not None else sys.argv[1:])])
    code: int = args.handler(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
