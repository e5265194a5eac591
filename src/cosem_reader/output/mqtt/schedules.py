"""Which readings are published: ``min_interval`` and ``publish_at_seconds``/``_minutes``."""

from __future__ import annotations

from datetime import datetime, timedelta

from cosem_reader.output.mqtt.settings import MqttSettings

__all__ = ["PublishSchedule"]


class PublishSchedule:
    """Which readings to publish: ``min_interval`` and ``publish_at_seconds``/``_minutes``.

    A reading's time is the meter's timestamp, else the wall clock.  With a schedule
    the first reading is published at once (as smart-meter-mbus-dlms does), then the
    first reading at or after each scheduled instant; with a minimum
    interval a reading closer than that to the last published one is skipped.  A clock
    that goes back restarts both.
    """

    def __init__(self, settings: MqttSettings) -> None:
        self.min_interval = settings.min_interval
        self.seconds = sorted(set(settings.publish_at_seconds))
        self.minutes = frozenset(settings.publish_at_minutes)
        self.scheduled = bool(self.seconds or self.minutes)
        self.last: datetime | None = None
        self.next_slot: datetime | None = None

    def due(self, when: datetime) -> bool:
        """Whether a reading at ``when`` is published; remembers it when it is."""
        if self.last is not None and when < self.last:
            self.last = None
            self.next_slot = None
        if (
            self.last is not None
            and self.min_interval > 0
            and (when - self.last).total_seconds() < self.min_interval
        ):
            return False
        if self.scheduled:
            if self.next_slot is not None and when < self.next_slot:
                return False
            self.next_slot = self._slot_after(when)
        self.last = when
        return True

    def _slot_after(self, instant: datetime) -> datetime:
        """The first scheduled instant strictly after ``instant``."""
        seconds = self.seconds or [0]
        minute = instant.replace(second=0, microsecond=0)
        for step in range(24 * 60 + 2):
            candidate_minute = minute + timedelta(minutes=step)
            if self.minutes and candidate_minute.minute not in self.minutes:
                continue
            for second in seconds:
                candidate = candidate_minute + timedelta(seconds=second)
                if candidate > instant:
                    return candidate
        return instant + timedelta(hours=1)  # pragma: no cover - every minute set has a slot
