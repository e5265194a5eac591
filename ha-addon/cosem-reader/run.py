"""The add-on's entry: the add-on options (and the Supervisor's MQTT service) to
``cosem-reader read``.

The Supervisor writes the options the user set to /data/options.json. When the user
names no broker, the broker of the Mosquitto add-on is asked from the Supervisor's
services API (``GET /services/mqtt`` with the add-on's ``SUPERVISOR_TOKEN``), which is
what bashio's ``bashio::services mqtt`` reads too. Secrets go to cosem-reader as
environment variables, never on its command line (where ``ps`` would show them).
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: Add-on option → the cosem-reader setting it sets (config.yaml's schema has these keys).
SETTINGS = {
    "port": "serial.port",
    "key": "decryption.key",
    "auth_key": "decryption.auth_key",
    "layer": "decoding.layer",
    "baudrate": "serial.baudrate",
    "parity": "serial.parity",
    "timezone": "decoding.timezone",
    "language": "decoding.language",
    "name_format": "decoding.name_format",
    "topic_base": "mqtt.topic_base",
    "mqtt_host": "mqtt.host",
    "mqtt_port": "mqtt.port",
    "mqtt_username": "mqtt.username",
    "mqtt_password": "mqtt.password",
    "mqtt_tls": "mqtt.tls",
    "log_level": "daemon.log_level",
}
#: The Supervisor's MQTT service field → the add-on option it stands in for.
SERVICE_FIELDS = {
    "host": "mqtt_host",
    "port": "mqtt_port",
    "username": "mqtt_username",
    "password": "mqtt_password",
    "ssl": "mqtt_tls",
}


def environment_name(setting: str) -> str:
    """``mqtt.host`` → ``COSEM_READER_MQTT_HOST`` (cosem-reader's variable for it)."""
    return "COSEM_READER_" + setting.replace(".", "_").upper()


def with_mqtt_service(options: Mapping[str, Any], service: Mapping[str, Any] | None
                      ) -> dict[str, Any]:
    """The options, with the broker from the MQTT service when the user named none."""
    merged = dict(options)
    if service and not options.get("mqtt_host"):
        for field, option in SERVICE_FIELDS.items():
            if service.get(field) not in (None, ""):
                merged[option] = service[field]
    return merged


def command(options: Mapping[str, Any]) -> tuple[list[str], dict[str, str]]:
    """The command line and the environment variables of ``cosem-reader read``."""
    environment: dict[str, str] = {}
    for option, setting in SETTINGS.items():
        value = options.get(option)
        if value is None or value == "":
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        environment[environment_name(setting)] = str(value)
    # Without a broker the readings go to the add-on's log, one line each.
    environment.setdefault(environment_name("daemon.console"), "line")
    return ["cosem-reader", "read"], environment


def mqtt_service(api: str, token: str | None) -> dict[str, Any] | None:
    """The Mosquitto add-on's broker and credentials, or None when there is none."""
    if not token:
        return None
    if not api.startswith(("http://", "https://")):
        print(f"cosem-reader-addon: SUPERVISOR_API {api!r} is not an http(s) URL",
              file=sys.stderr)
        return None
    request = urllib.request.Request(f"{api}/services/mqtt",  # noqa: S310 - checked above
                                     headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            data: dict[str, Any] = json.load(response).get("data") or {}
    except (OSError, ValueError) as error:
        print(f"cosem-reader-addon: no MQTT service from the Supervisor ({error})",
              file=sys.stderr)
        return None
    return data


def main() -> None:
    """Read the options, ask for the MQTT service, and become cosem-reader."""
    options_file = Path(os.environ.get("COSEM_READER_ADDON_OPTIONS", "/data/options.json"))
    options: dict[str, Any] = json.loads(options_file.read_text(encoding="utf-8"))
    service = None
    if not options.get("mqtt_host"):
        service = mqtt_service(os.environ.get("SUPERVISOR_API", "http://supervisor"),
                               os.environ.get("SUPERVISOR_TOKEN"))
    options = with_mqtt_service(options, service)
    if not options.get("mqtt_host"):
        print("cosem-reader-addon: no MQTT broker: install the Mosquitto broker add-on or set"
              " mqtt_host; the readings go to this log only", file=sys.stderr)
    argv, environment = command(options)
    os.execvpe(argv[0], argv, {**os.environ, **environment})  # noqa: S606


if __name__ == "__main__":
    main()
