"""Shared test set-up: the hypothesis profiles (the vectors are in tests/support/vectors.py)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

#: Fixtures shared by the test packages: `broker` (a real MQTT broker), `subscribe`
#: and `publishers` (clients of it), `meter` (a pty as the meter's serial port).
pytest_plugins = ("tests.support.broker", "tests.support.publishing", "tests.support.pty_meter")
