"""The daemon's logging: secrets redacted from every line, journald's priorities.

Library modules only log (``logging.getLogger(__name__)``); this is the one place
that configures where the lines go.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Sequence
from typing import Final, TextIO

__all__ = ["RedactingFilter", "configure_logging"]


class RedactingFilter(logging.Filter):
    """Replaces every secret in a log record by ``***``: the safety net under the rule
    that no code logs a key or password in the first place.

    A key is matched as hex in any case, with or without separators between the
    byte pairs; other secrets (the MQTT password) as given.
    """

    def __init__(self, secrets: Sequence[str] = ()) -> None:
        super().__init__()
        self.pattern: re.Pattern[str] | None = None
        self.set_secrets(secrets)

    def set_secrets(self, secrets: Sequence[str]) -> None:
        """The strings to hide from now on."""
        parts: list[str] = []
        for secret in sorted(set(secrets), key=len, reverse=True):
            if not secret:
                continue
            if re.fullmatch(r"[0-9a-fA-F]{32}|[0-9a-fA-F]{64}", secret):
                pairs = [secret[i : i + 2] for i in range(0, len(secret), 2)]
                parts.append(r"[\s:_-]?".join(pairs))
            elif len(secret) < 4:
                # A very short password would otherwise blank out letters everywhere.
                parts.append(rf"(?<![\w]){re.escape(secret)}(?![\w])")
            else:
                parts.append(re.escape(secret))
        self.pattern = re.compile("|".join(parts), re.IGNORECASE) if parts else None

    def redact(self, text: str) -> str:
        """``text`` with every secret replaced."""
        return self.pattern.sub("***", text) if self.pattern is not None else text

    def filter(self, record: logging.LogRecord) -> bool:
        """Render the message, redact it, and keep the record."""
        if self.pattern is None:
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg = self.redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


_SYSLOG_PRIORITY: Final = {
    logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2,
}


class _JournalFormatter(logging.Formatter):
    """``<priority>message``: journald reads the syslog priority and adds its own time."""

    def format(self, record: logging.LogRecord) -> str:
        priority = _SYSLOG_PRIORITY.get(record.levelno, 6)
        text = super().format(record)
        return "\n".join(f"<{priority}>{line}" for line in text.splitlines())


def _under_journald(stream: TextIO) -> bool:
    """Whether ``stream`` is the journal stream systemd set up (``JOURNAL_STREAM=dev:inode``).

    systemd.exec(5): the variable is inherited by children whose stderr may be
    redirected elsewhere, so the device and inode must match the stream's.
    """
    value = os.environ.get("JOURNAL_STREAM", "")
    if not value:
        return False
    try:
        device, inode = (int(part) for part in value.split(":", 1))
        info = os.fstat(stream.fileno())
    except (ValueError, OSError, AttributeError):
        return False
    return (info.st_dev, info.st_ino) == (device, inode)


def configure_logging(level: str, secrets: Sequence[str] = (),
                      stream: TextIO | None = None) -> RedactingFilter:
    """Log to stderr at ``level``, secrets redacted; no own timestamps under journald."""
    target = stream if stream is not None else sys.stderr
    handler = logging.StreamHandler(target)
    if _under_journald(target):
        handler.setFormatter(_JournalFormatter("%(message)s"))
    else:
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(message)s", datefmt="%Y-%m-%d %H:%M:%S"
        ))
    redacting = RedactingFilter(secrets)
    handler.addFilter(redacting)
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    # paho's own logger chatters at DEBUG on every packet.
    logging.getLogger("paho").setLevel(max(logging.INFO, logging.getLogger().level))
    return redacting
