"""A user of smart-meter-mbus-dlms switches: `config import`, `read`, the same messages.

Each shared vector with a row in tests/app/data/smart_meter_mbus_dlms_expected.json is
replayed by ``cosem-reader read --replay`` with the config that ``config import`` makes of
the original's settings, through a real broker; a subscriber to ``SmartMeter/#`` sees
exactly the topics and payloads the original published for it, in its order.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from cosem_reader.app.config import ConfigProblems, load_settings
from cosem_reader.app.config_import import COMPAT_NAME, import_config, parse_original
from tests.support.broker import Broker
from tests.support.daemon import Daemon
from tests.support.publishing import Subscriber
from tests.support.vectors import vector_layer, vector_params

TABLE = json.loads((Path(__file__).parent / "data" / "smart_meter_mbus_dlms_expected.json")
                   .read_text("utf-8"))
ROWS: dict[str, Any] = TABLE["vectors"]
END = "SmartMeter/test-end"


def original_settings(broker: Broker, key: str | None, language: str) -> str:
    """The original's config/default.json5 (template values) as its user had it, in JSON."""
    return json.dumps({
        "serialPort": {"port": "/dev/ttyUSB0", "baudRate": 2400, "dataBits": 8,
                       "parity": "none", "stopBits": 1},
        "decryption": {"key": key or ""},
        "decoding": {"obisLanguage": language,
                     "obisNameFormat": "[measurement], [measurementType]",
                     "obisNameDelimiterCharacters": ",- "},
        "mqtt": {
            "enabled": True, "testMode": False, "host": broker.host, "port": broker.port,
            "rejectUnauthorized": True, "clientId": "SmartMeterElectricity01",
            "username": "", "password": "", "topicBase": "SmartMeter/Electricity/Main/",
            "topicObisIdentifier": "name", "topicIdentifierInvalidCharsRegex": "[^a-zA-z0-9_]",
            "topicIdentifierInvalidCharsReplacement": "", "topicIdentifierReplaceUmlauts": True,
            "publishSingleJson": True, "publishIndividualValues": True,
            "includeUnitInIndividualValues": False, "valueDateTimeFormat": "iso-local",
            "minSecondsBetweenMessages": 0, "publishIntervalSeconds": "",
            "publishIntervalMinutes": "",
        },
        "debug": {"maxApplicationDataUnits": 1},
    })


def mark_the_end(broker: Broker) -> None:
    """Publish END after the daemon is gone: what arrives before it is all it published."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="test-end-marker")
    client.connect(broker.host, broker.port)
    client.loop_start()
    client.publish(END, b"", qos=1).wait_for_publish(10)
    client.disconnect()
    client.loop_stop()


@pytest.mark.vectors
@pytest.mark.parametrize(("language", "variant"), [("de", "messages"), ("en", "messages_en")])
@pytest.mark.parametrize("vector", vector_params(lambda v: "messages" in ROWS.get(v["id"], {})))
def test_the_subscriber_sees_what_the_original_published(
    vector: dict[str, Any],
    language: str,
    variant: str,
    broker: Broker,
    subscribe: Callable[..., Subscriber],
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.toml"
    original = parse_original(original_settings(broker, vector.get("key"), language))
    config.write_text(import_config(original).toml, encoding="utf-8")
    capture = tmp_path / "push.bin"
    capture.write_bytes(bytes.fromhex(vector["hex"]))
    subscriber = subscribe(broker.host, broker.port, ("SmartMeter/#",))
    daemon = Daemon(
        ["--replay", str(capture), "--config", str(config), "--layer", vector_layer(vector)],
        env={"TZ": "Europe/Vienna"},
    )
    assert daemon.wait() == 0, daemon.output()
    mark_the_end(broker)
    subscriber.wait_for(lambda messages: any(m.topic == END for m in messages))
    seen = [[m.topic, m.payload.decode("utf-8")] for m in subscriber.messages]
    assert seen[:-1] == ROWS[vector["id"]][variant], daemon.output()
    assert {(m.qos, m.retain) for m in subscriber.messages[:-1]} == {(0, False)}


class TestDiscovery:
    """The original announced nothing to Home Assistant: with compat, neither by default."""

    def test_off_with_compat_unless_set(self) -> None:
        flags = {"port": "/dev/ttyUSB0", "host": "broker"}
        plain = load_settings(None, flags, env={})
        compat = load_settings(None, {**flags, "compat": COMPAT_NAME}, env={})
        assert plain.mqtt is not None
        assert plain.mqtt.homeassistant_discovery is True
        assert compat.mqtt is not None
        assert compat.mqtt.homeassistant_discovery is False

    def test_asking_for_it_with_compat_is_one_clear_line(self, tmp_path: Path) -> None:
        """Home Assistant would read a …/<meter>/state that compat never publishes."""
        config = tmp_path / "config.toml"
        config.write_text(
            f'[serial]\nport = "/dev/ttyUSB0"\n[mqtt]\nhost = "broker"\ncompat = "{COMPAT_NAME}"\n'
            "homeassistant_discovery = true\n",
            encoding="utf-8",
        )
        with pytest.raises(ConfigProblems) as excinfo:
            load_settings(str(config), {}, env={})
        message = str(excinfo.value)
        assert "mqtt.homeassistant_discovery" in message
        assert "homeassistant_discovery = false" in message
        config.write_text(config.read_text("utf-8").replace("true", "false"), encoding="utf-8")
        settings = load_settings(str(config), {}, env={})
        assert settings.mqtt is not None
        assert settings.mqtt.homeassistant_discovery is False
