"""The Home Assistant add-on: its config.yaml by the Supervisor's rules, and its run
script turning the add-on options into a ``cosem-reader read`` that publishes."""

from __future__ import annotations

import http.server
import importlib.util
import json
import os
import re
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import pytest
import yaml

from cosem_reader.app.config import OPTIONS
from tests.support.broker import Broker, broker_fixture  # noqa: F401 - the fixture `broker`
from tests.support.container import container, image
from tests.support.daemon import KEY, daemon_environment, push_until_published
from tests.support.pty_meter import PtyMeter
from tests.support.publishing import Subscriber

ROOT = Path(__file__).resolve().parents[2]
ADDON = ROOT / "ha-addon" / "cosem-reader"

# The Supervisor's rules, from its source (home-assistant/supervisor, supervisor/addons/:
# validate.py for the keys, the slug and the services, options.py for the grammar of a
# schema element): a type, optionally with a range or a pattern, and "?" for optional.
SCHEMA_ELEMENT = re.compile(
    r"(?P<type>bool|email|url|port"
    r"|device(?:\(subsystem=[a-z]+\))?"
    r"|(?:str|password)(?:\((?P<s_min>\d+)?,(?P<s_max>\d+)?\))?"
    r"|int(?:\((?P<i_min>-?\d+)?,(?P<i_max>-?\d+)?\))?"
    r"|float(?:\([-\d.]*,[-\d.]*\))?"
    r"|match\((?P<pattern>.*)\)"
    r"|list\((?P<choices>.+)\))(?P<optional>\??)"
)
REQUIRED_KEYS = ("name", "version", "slug", "description", "arch")
SLUG = re.compile(r"[-_.A-Za-z0-9]+")
SERVICE = re.compile(r"(?:mqtt|mysql):(?:provide|want|need)")
ARCHES = {"aarch64", "amd64", "armhf", "armv7", "i386"}


def load(name: str) -> Any:
    return yaml.safe_load((ADDON / name).read_text(encoding="utf-8"))


def load_run_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("addon_run", ADDON / "run.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def valid(element: str, value: object) -> bool:
    """Whether ``value`` passes the schema element, as the Supervisor checks options."""
    found = SCHEMA_ELEMENT.fullmatch(element)
    assert found, element
    kind = found["type"].split("(", 1)[0]
    if kind == "bool":
        return isinstance(value, bool)
    if kind in ("int", "port"):
        low = int(found["i_min"] or (1 if kind == "port" else -(2**63)))
        high = int(found["i_max"] or (65535 if kind == "port" else 2**63))
        return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
    if kind == "list":
        return value in found["choices"].split("|")
    if kind == "match":
        return isinstance(value, str) and re.fullmatch(found["pattern"], value) is not None
    return isinstance(value, str)


def test_config_has_what_the_supervisor_requires() -> None:
    config = load("config.yaml")
    assert all(config.get(key) for key in REQUIRED_KEYS)
    assert SLUG.fullmatch(config["slug"])
    assert set(config["arch"]) <= ARCHES
    assert set(load("build.yaml")["build_from"]) == set(config["arch"])
    assert all(SERVICE.fullmatch(service) for service in config["services"])
    assert "mqtt:want" in config["services"]
    assert config["uart"] is True
    # The add-on installs the package of the same version.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert config["version"] == project["version"]
    dockerfile = (ADDON / "Dockerfile").read_text(encoding="utf-8")
    assert f"ARG COSEM_READER_VERSION={project['version']}\n" in dockerfile
    assert load("../repository.yaml")["name"]


def test_schema_elements_follow_the_supervisor_grammar() -> None:
    schema = load("config.yaml")["schema"]
    bad = [f"{key}: {element}" for key, element in schema.items()
           if not SCHEMA_ELEMENT.fullmatch(element)]
    assert bad == []
    assert schema["port"] == "device(subsystem=tty)"
    assert schema["layer"] == "list(auto|mbus|hdlc|raw)"
    assert schema["mqtt_password"].startswith("password")


def test_defaults_pass_their_schema_and_required_options_are_asked_for() -> None:
    config = load("config.yaml")
    schema, options = config["schema"], config["options"]
    assert set(options) <= set(schema)
    assert [key for key, value in options.items() if not valid(schema[key], value)] == []
    required_without_default = {key for key, element in schema.items()
                                if not element.endswith("?") and key not in options}
    assert required_without_default == {"port", "key"}
    assert not valid(schema["key"], "0123")
    assert valid(schema["key"], KEY.hex())


@pytest.mark.parametrize("language", ["en", "de"])
def test_translations_name_every_option(language: str) -> None:
    schema = load("config.yaml")["schema"]
    translated = load(f"translations/{language}.yaml")["configuration"]
    assert set(translated) == set(schema)
    assert all(entry.get("name") and entry.get("description") for entry in translated.values())


def test_every_option_sets_a_cosem_reader_setting() -> None:
    run = load_run_script()
    assert set(run.SETTINGS) == set(load("config.yaml")["schema"])
    names = {option.name for option in OPTIONS}
    assert set(run.SETTINGS.values()) <= names
    assert set(run.SERVICE_FIELDS.values()) <= set(run.SETTINGS)


def test_options_become_environment_and_secrets_stay_off_the_command_line() -> None:
    run = load_run_script()
    options = {"port": "/dev/ttyUSB0", "key": KEY.hex(), "auth_key": "", "layer": "auto",
               "baudrate": 2400, "mqtt_password": "s3cret", "mqtt_tls": False}
    argv, environment = run.command(options)
    assert argv == ["cosem-reader", "read"]
    assert environment["COSEM_READER_SERIAL_PORT"] == "/dev/ttyUSB0"
    assert environment["COSEM_READER_DECRYPTION_KEY"] == KEY.hex()
    assert environment["COSEM_READER_SERIAL_BAUDRATE"] == "2400"
    assert environment["COSEM_READER_MQTT_TLS"] == "false"
    assert "COSEM_READER_DECRYPTION_AUTH_KEY" not in environment  # empty: not set
    assert not any(KEY.hex() in part or "s3cret" in part for part in argv)


def test_the_mqtt_service_fills_in_only_a_broker_the_user_did_not_name() -> None:
    run = load_run_script()
    service = {"host": "core-mosquitto", "port": 1883, "ssl": False, "protocol": "3.1.1",
               "username": "addons", "password": "generated"}
    merged = run.with_mqtt_service({"key": "k"}, service)
    assert merged["mqtt_host"] == "core-mosquitto"
    assert merged["mqtt_username"] == "addons"
    assert merged["mqtt_password"] == "generated"
    own = run.with_mqtt_service({"mqtt_host": "broker.lan"}, service)
    assert own == {"mqtt_host": "broker.lan"}


class _Supervisor(http.server.BaseHTTPRequestHandler):
    service: ClassVar[dict[str, Any]] = {}

    def do_GET(self) -> None:
        if self.path != "/services/mqtt" or self.headers["Authorization"] != "Bearer tok":
            self.send_error(401)
            return
        body = json.dumps({"result": "ok", "data": self.service}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def supervisor(broker: Broker) -> Iterator[str]:
    """A stand-in for the Supervisor's services API, offering ``broker`` as the MQTT service."""
    _Supervisor.service = {"host": broker.host, "port": broker.port, "ssl": False,
                           "protocol": "3.1.1", "username": "addons", "password": "pw"}
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Supervisor)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def test_the_run_script_publishes_a_reading(
    tmp_path: Path, broker: Broker, supervisor: str
) -> None:
    meter = PtyMeter(tmp_path / "ttyUSB-meter")
    (tmp_path / "options.json").write_text(json.dumps(
        {"port": str(meter.path), "key": KEY.hex(), "layer": "auto", "baudrate": 2400,
         "parity": "none", "language": "de", "topic_base": "addon", "log_level": "info"}))
    subscriber = Subscriber(broker.host, broker.port, ("addon/#",))
    environment = daemon_environment(tmp_path)
    environment.update(COSEM_READER_ADDON_OPTIONS=str(tmp_path / "options.json"),
                       SUPERVISOR_API=supervisor, SUPERVISOR_TOKEN="tok",
                       PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    process = subprocess.Popen([sys.executable, str(ADDON / "run.py")], env=environment,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        push_until_published(meter, subscriber, process)
        state = next(json.loads(m.payload) for m in subscriber.messages
                     if m.topic.endswith("/state"))
        assert state["values"]["1-0:1.8.0"]["unit"] == "Wh"
    finally:
        process.terminate()
        output = process.communicate(timeout=20)[0].decode()
        subscriber.close()
        meter.close()
    assert "pw" not in output.split()
    assert process.returncode == 0, output


def test_the_addon_image_publishes_a_reading(
    tmp_path: Path, broker: Broker, supervisor: str
) -> None:
    addon_image = image("COSEM_READER_TEST_ADDON_IMAGE")
    meter = PtyMeter(tmp_path / "ttyUSB-meter")
    options = tmp_path / "options.json"
    options.write_text(json.dumps({"port": "/dev/ttyUSB0", "key": KEY.hex(), "layer": "auto",
                                   "topic_base": "addon", "log_level": "info"}))
    options.chmod(0o644)
    subscriber = Subscriber(broker.host, broker.port, ("addon/#",))
    try:
        with container(addon_image, meter, options=[
            "-v", f"{options}:/data/options.json:ro",
            "-e", f"SUPERVISOR_API={supervisor}", "-e", "SUPERVISOR_TOKEN=tok",
        ]) as process:
            push_until_published(meter, subscriber, process)
    finally:
        subscriber.close()
        meter.close()


