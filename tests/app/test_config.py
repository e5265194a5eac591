"""Settings: defaults < file < environment < flags, every problem named, secrets hidden."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosem_reader.app.config import (
    OPTIONS,
    ConfigProblems,
    find_config_file,
    load_settings,
    render_settings,
)
from cosem_reader.app.option_docs import option_table, with_option_tables
from cosem_reader.app.option_values import convert
from cosem_reader.app.options import Layer, Option, Origin
from cosem_reader.errors import ConfigError
from cosem_reader.output.mqtt import MqttSettings

KEY = "5A1B2C3D4E5F60718293A4B5C6D7E8F9"
OTHER_KEY = "0F0E0D0C0B0A09080706050403020100"
SERIAL = '[serial]\nport = "/dev/a"\n'


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def problems(excinfo: pytest.ExceptionInfo[ConfigProblems]) -> list[str]:
    return [str(problem) for problem in excinfo.value.problems]


class TestDefaults:
    def test_defaults_of_the_original_tool(self) -> None:
        """2400 baud, 8 data bits, no parity, 1 stop bit; no MQTT without a broker."""
        settings = load_settings(None, {"port": "/dev/ttyUSB0"}, env={})
        serial = settings.meters[0].serial
        assert (serial.port, serial.baudrate, serial.bytesize, serial.parity, serial.stopbits) == (
            "/dev/ttyUSB0", 2400, 8, "none", 1.0
        )
        assert not settings.mqtt_enabled
        assert settings.meters[0].key is None

    def test_a_port_or_a_replay_is_needed(self) -> None:
        """Without either, the one line says how to name the port."""
        with pytest.raises(ConfigProblems) as excinfo:
            load_settings(None, {}, env={})
        assert "by-id" in str(excinfo.value)

    def test_mqtt_schema_matches_the_publisher(self) -> None:
        """Every MqttSettings field is a [mqtt] option (names come from [decoding])."""
        fields = {field.name for field in dataclasses.fields(MqttSettings)}
        options = {option.key for option in OPTIONS if option.section == "mqtt"}
        decoding = {"language", "name_template", "name_delimiters"}
        assert options - {"password_file"} == fields - decoding


class TestPrecedence:
    def test_flag_over_env_over_file(self, tmp_path: Path) -> None:
        """The baud rate from each layer, the higher one winning."""
        config = write(tmp_path / "c.toml", '[serial]\nport = "/dev/a"\nbaudrate = 9600\n')
        env = {"COSEM_READER_BAUDRATE": "4800"}
        assert load_settings(str(config), {}, env={}).meters[0].serial.baudrate == 9600
        assert load_settings(str(config), {}, env=env).meters[0].serial.baudrate == 4800
        settings = load_settings(str(config), {"baudrate": "1200"}, env=env)
        assert settings.meters[0].serial.baudrate == 1200
        assert settings.origins["serial.baudrate"] == Origin(Layer.FLAG, "--baudrate")
        assert str(settings.origins["serial.baudrate"]) == "flag --baudrate"

    def test_section_style_env_names(self) -> None:
        """COSEM_READER_<SECTION>_<KEY> works for every option."""
        env = {"COSEM_READER_SERIAL_PORT": "socket://bridge:2000", "COSEM_READER_MQTT_QOS": "0",
               "COSEM_READER_MQTT_HOST": "broker"}
        settings = load_settings(None, {}, env=env)
        assert settings.meters[0].serial.port == "socket://bridge:2000"
        assert settings.mqtt.qos == 0
        assert settings.mqtt_enabled

    def test_mqtt_url_from_env_enables_mqtt(self) -> None:
        """COSEM_READER_MQTT_URL sets host, port, user and password; the password is a secret."""
        env = {"COSEM_READER_PORT": "/dev/x", "COSEM_READER_MQTT_URL": "mqtt://u:s3cret@h:1884"}
        settings = load_settings(None, {}, env=env)
        assert (settings.mqtt.host, settings.mqtt.port, settings.mqtt.password) == (
            "h", 1884, "s3cret"
        )
        assert settings.mqtt_enabled
        assert "s3cret" in settings.secrets
        assert "s3cret" not in render_settings(settings)

    def test_key_file_flag_beats_key_in_file(self, tmp_path: Path) -> None:
        """A key file given as a flag wins over a key written in the config file."""
        config = write(tmp_path / "c.toml", SERIAL + f'[decryption]\nkey = "{KEY}"\n')
        key_file = write(tmp_path / "key", OTHER_KEY + "\n")
        settings = load_settings(str(config), {"key_file": str(key_file)}, env={})
        assert settings.meters[0].key == bytes.fromhex(OTHER_KEY)

    def test_key_and_key_file_in_one_layer(self, tmp_path: Path) -> None:
        """Both in the same file is ambiguous: one problem, naming both."""
        key_file = write(tmp_path / "key", KEY)
        config = write(tmp_path / "c.toml",
                       SERIAL + f'[decryption]\nkey = "{KEY}"\nkey_file = "{key_file}"\n')
        with pytest.raises(ConfigProblems) as excinfo:
            load_settings(str(config), {}, env={})
        assert "key and key_file are both set" in str(excinfo.value)

    def test_systemd_credential(self, tmp_path: Path) -> None:
        """$CREDENTIALS_DIRECTORY/cosem-reader-key is the key when none is configured."""
        write(tmp_path / "cosem-reader-key", KEY)
        env = {"CREDENTIALS_DIRECTORY": str(tmp_path)}
        settings = load_settings(None, {"port": "/dev/a"}, env=env)
        assert settings.meters[0].key == bytes.fromhex(KEY)
        assert KEY.lower() in settings.secrets


class TestSearch:
    def test_current_directory_first(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """./cosem-reader.toml is found without --config."""
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
        write(tmp_path / "cosem-reader.toml", '[serial]\nport = "/dev/here"\n')
        assert find_config_file(None, env={}) == Path("cosem-reader.toml")
        assert load_settings(None, {}, env={}).meters[0].serial.port == "/dev/here"

    def test_user_config(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Then ~/.config/cosem-reader/config.toml (XDG_CONFIG_HOME honoured)."""
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
        (tmp_path / "xdg" / "cosem-reader").mkdir(parents=True)
        user = write(tmp_path / "xdg" / "cosem-reader" / "config.toml", SERIAL)
        assert find_config_file(None, env={}) == user

    def test_missing_explicit_file(self, tmp_path: Path) -> None:
        """--config naming no file is an error, not a silent default."""
        with pytest.raises(ConfigError, match="does not exist"):
            find_config_file(str(tmp_path / "nope.toml"), env={})


class TestProblems:
    def test_wrong_type_names_key_value_and_file(self, tmp_path: Path) -> None:
        """The message of the issue, word for word."""
        config = write(tmp_path / "c.toml", '[serial]\nport = "/dev/a"\n[mqtt]\nport = "abc"\n')
        with pytest.raises(ConfigProblems) as excinfo:
            load_settings(str(config), {}, env={})
        assert problems(excinfo) == [
            f"mqtt.port: expected an integer, got 'abc' (in {config})"
        ]

    def test_every_problem_at_once(self, tmp_path: Path) -> None:
        """Unknown keys (with a suggestion), ranges, choices, bad hex: all reported."""
        config = write(tmp_path / "c.toml", "\n".join([
            "[serial]", 'port = "/dev/a"', 'parity = "evn"', "bytesize = 9",
            "[mqtt]", "prot = 1883",
            "[decryption]", 'key = "12345678901234567890123456789XYZ"',
            "[nonsense]", "x = 1",
        ]))
        with pytest.raises(ConfigProblems) as excinfo:
            load_settings(str(config), {}, env={})
        found = problems(excinfo)
        assert any(p.startswith("serial.parity: expected one of none, even") for p in found)
        assert any(p.startswith("serial.bytesize: expected a value between 5 and 8") for p in found)
        assert any(p.startswith("mqtt.prot: unknown key") and "'port'" in p for p in found)
        assert any(p.startswith("decryption.key: the key contains a non-hex") for p in found)
        assert any(p.startswith("nonsense: unknown key") for p in found)
        assert all("XYZ" not in p for p in found)

    def test_env_problem_names_the_variable(self) -> None:
        """A bad environment value says which variable."""
        with pytest.raises(ConfigProblems) as excinfo:
            load_settings(None, {"port": "/dev/a"}, env={"COSEM_READER_MQTT_QOS": "high"})
        assert problems(excinfo) == [
            "mqtt.qos: expected an integer, got 'high' (from COSEM_READER_MQTT_QOS)"
        ]

    def test_not_toml(self, tmp_path: Path) -> None:
        """A syntax error names the file."""
        config = write(tmp_path / "c.toml", "[serial\nport=1")
        with pytest.raises(ConfigError, match="is not valid TOML"):
            load_settings(str(config), {}, env={})

    def test_unknown_time_zone(self) -> None:
        """An unknown time zone is a config problem, not a crash later."""
        with pytest.raises(ConfigProblems, match=r"decoding\.timezone: unknown time zone"):
            load_settings(None, {"port": "/dev/a", "timezone": "Mars/Olympus"}, env={})


class TestMqttRanges:
    """The [mqtt] ranges, checked once by the option declarations (MqttSettings has none)."""

    @pytest.mark.parametrize(
        ("line", "key"),
        [
            ('url = "http://broker"', "mqtt.url"),
            ('url = "mqtt://"', "mqtt.url"),
            ('protocol = "6"', "mqtt.protocol"),
            ("qos = 3", "mqtt.qos"),
            ('topic_identifier = "obis"', "mqtt.topic_identifier"),
            ('date_time_format = "unix"', "mqtt.date_time_format"),
            ('invalid_characters = "[a-"', "mqtt.invalid_characters"),
            ("publish_at_seconds = [0, 60]", "mqtt.publish_at_seconds"),
            ("publish_at_minutes = [-1]", "mqtt.publish_at_minutes"),
            ("queue_size = 0", "mqtt.queue_size"),
            ('topic_base = "meters/#"', "mqtt.topic_base"),
            ('topic_base = "meters//x"', "mqtt.topic_base"),
            ("port = 70000", "mqtt.port"),
            ('host = ""', "mqtt.host"),
            ('discovery_prefix = "ha/+"', "mqtt.discovery_prefix"),
            ("min_interval = -1", "mqtt.min_interval"),
            ("spool_max_mb = 0", "mqtt.spool_max_mb"),
            # The option's minimum (5 s) is the one schema; MqttSettings' own said 1.
            ("keepalive = 4", "mqtt.keepalive"),
            ("reconnect_min_delay = 40", "mqtt.reconnect_min_delay"),
        ],
    )
    def test_bad_settings_name_the_key(self, tmp_path: Path, line: str, key: str) -> None:
        """One line naming the key and the file, for each value the publisher cannot use."""
        config = write(tmp_path / "c.toml", SERIAL + f"[mqtt]\n{line}\n")
        with pytest.raises(ConfigProblems) as excinfo:
            load_settings(str(config), {}, env={})
        (problem,) = problems(excinfo)
        assert problem.startswith(f"{key}: "), problem
        assert f"(in {config})" in problem

    def test_a_meters_topic_base_is_checked_too(self, tmp_path: Path) -> None:
        """A [[meter]] topic_base with a wildcard was published to before; now it is refused."""
        config = write(tmp_path / "c.toml", '[[meter]]\nport = "/dev/a"\ntopic_base = "m/#"\n')
        with pytest.raises(ConfigProblems, match=r"meter\[0\]\.topic_base: 'm/#' is not a valid"):
            load_settings(str(config), {}, env={})

    def test_library_settings_carry_types_only(self) -> None:
        """MqttSettings built directly is a plain dataclass: the daemon's config validates."""
        assert MqttSettings(qos=3).qos == 3


class TestMeters:
    def test_several_meters(self, tmp_path: Path) -> None:
        """[[meter]] tables: each its own port, key and topic base; top-level values shared."""
        config = write(tmp_path / "c.toml", "\n".join([
            "[serial]", "baudrate = 9600",
            "[[meter]]", 'name = "house"', 'port = "/dev/a"', f'key = "{KEY}"',
            "[[meter]]", 'name = "heatpump"', 'port = "/dev/b"', f'key = "{OTHER_KEY}"',
            'topic_base = "hp"', "baudrate = 2400",
        ]))
        settings = load_settings(str(config), {}, env={})
        house, heatpump = settings.meters
        assert (house.name, house.serial.port, house.serial.baudrate) == ("house", "/dev/a", 9600)
        assert (heatpump.serial.port, heatpump.serial.baudrate) == ("/dev/b", 2400)
        assert (house.key, heatpump.key) == (bytes.fromhex(KEY), bytes.fromhex(OTHER_KEY))
        assert heatpump.topic_base == "hp"
        assert house.topic_base is None

    def test_one_meter_flag_with_several_meters(self, tmp_path: Path) -> None:
        """--port cannot say which of two meters it means."""
        config = write(tmp_path / "c.toml", '[[meter]]\nname = "a"\nport = "/dev/a"\n'
                       '[[meter]]\nname = "b"\nport = "/dev/b"\n')
        with pytest.raises(ConfigProblems, match=r"--port sets serial\.port for one meter"):
            load_settings(str(config), {"port": "/dev/c"}, env={})

    def test_a_shared_option_of_the_same_key_is_not_one_meters(self, tmp_path: Path) -> None:
        """COSEM_READER_MQTT_PORT is the broker's port, not a meter's serial port."""
        config = write(tmp_path / "c.toml", '[[meter]]\nname = "a"\nport = "/dev/a"\n'
                       '[[meter]]\nname = "b"\nport = "/dev/b"\n')
        settings = load_settings(str(config), {}, env={"COSEM_READER_MQTT_PORT": "1884"})
        assert settings.mqtt.port == 1884
        assert [meter.serial.port for meter in settings.meters] == ["/dev/a", "/dev/b"]

    def test_meters_need_names(self, tmp_path: Path) -> None:
        """Two meters without names would share topics."""
        config = write(tmp_path / "c.toml",
                       '[[meter]]\nport = "/dev/a"\n[[meter]]\nport = "/dev/b"\n')
        with pytest.raises(ConfigProblems, match="needs a name"):
            load_settings(str(config), {}, env={})


class TestSecrets:
    def test_render_redacts(self, tmp_path: Path) -> None:
        """config check shows *** for the key, the auth key and the password; TOML and JSON."""
        config = write(tmp_path / "c.toml", "\n".join([
            "[serial]", 'port = "/dev/a"',
            "[decryption]", f'key = "{KEY}"', f'auth_key = "{OTHER_KEY}"',
            "[mqtt]", 'host = "broker"', 'password = "pw-9876"',
        ]))
        settings = load_settings(str(config), {}, env={})
        for text in (render_settings(settings), render_settings(settings, as_json=True)):
            assert KEY not in text.upper()
            assert OTHER_KEY not in text.upper()
            assert "pw-9876" not in text
            assert text.count("***") == 3
        tree = json.loads(render_settings(settings, as_json=True))
        assert tree["decryption"]["key"] == "***"
        assert tree["serial"]["port"] == "/dev/a"

    def test_readable_secret_file_warns(self, tmp_path: Path) -> None:
        """A config holding the key and readable by others draws a warning with the fix."""
        config = write(tmp_path / "c.toml", SERIAL + f'[decryption]\nkey = "{KEY}"\n', mode=0o644)
        settings = load_settings(str(config), {}, env={})
        assert len(settings.warnings) == 1
        assert f"chmod 600 {config}" in settings.warnings[0]
        config.chmod(0o600)
        assert load_settings(str(config), {}, env={}).warnings == ()

    @pytest.mark.parametrize("option", ["key_file", "auth_key_file", "password_file"])
    def test_readable_key_or_password_file_warns(self, tmp_path: Path, option: str) -> None:
        """A key_file or password_file readable by others draws one warning with the fix."""
        secret = write(tmp_path / "secret", KEY, mode=0o644)
        section = "mqtt" if option == "password_file" else "decryption"
        config = write(tmp_path / "c.toml", SERIAL + f'[{section}]\n{option} = "{secret}"\n')
        settings = load_settings(str(config), {}, env={})
        assert len(settings.warnings) == 1, settings.warnings
        assert f"{option}: {secret}" in settings.warnings[0]
        assert f"chmod 600 {secret}" in settings.warnings[0]
        secret.chmod(0o600)
        assert load_settings(str(config), {}, env={}).warnings == ()

    def test_no_secret_no_warning(self, tmp_path: Path) -> None:
        """A world-readable config without secrets is fine."""
        config = write(tmp_path / "c.toml", '[serial]\nport = "/dev/a"\n', mode=0o644)
        assert load_settings(str(config), {}, env={}).warnings == ()


class TestTrust:
    def test_authentication_defaults_to_the_auth_key(self) -> None:
        settings = load_settings(None, {"port": "/dev/a"}, env={})
        meter = settings.meters[0]
        assert meter.require_authentication is None
        assert (meter.silence_timeout, meter.max_power) == (60.0, 69000.0)
        env = {"COSEM_READER_DECRYPTION_REQUIRE_AUTHENTICATION": "false",
               "COSEM_READER_DAEMON_MAX_POWER": "44000"}
        meter = load_settings(None, {"port": "/dev/a"}, env=env).meters[0]
        assert (meter.require_authentication, meter.max_power) == (False, 44000.0)

    def test_system_title_in_hex(self) -> None:
        meter = load_settings(None, {"port": "/dev/a", "system_title": "4B:46:4D:67:50:00:00:09"},
                              env={}).meters[0]
        assert meter.system_title == bytes.fromhex("4B464D6750000009")
        with pytest.raises(ConfigProblems) as excinfo:
            load_settings(None, {"port": "/dev/a", "system_title": "4B46"}, env={})
        assert "16 hex digits" in str(excinfo.value)


@given(st.lists(st.integers(min_value=0, max_value=59), max_size=8),
       st.sampled_from([", ", ",", " ", ";"]))
def test_minute_lists_from_text(values: list[int], separator: str) -> None:
    """publish_at_seconds as text ("0, 15, 30, 45") or TOML list give the same tuple."""
    env = {"COSEM_READER_MQTT_PUBLISH_AT_SECONDS": separator.join(map(str, values))}
    settings = load_settings(None, {"port": "/dev/a"}, env=env)
    assert settings.mqtt.publish_at_seconds == tuple(values)


def test_every_option_is_documented() -> None:
    """docs/daemon.md has a row for every option, with its environment variable."""
    docs = (Path(__file__).resolve().parents[2] / "docs" / "daemon.md").read_text("utf-8")
    for option in OPTIONS:
        assert f"| `{option.key}` |" in docs, option.name
        assert f"`{option.env_names[0]}`" in docs, option.name


def test_option_tables_are_rendered_from_the_declarations() -> None:
    """Each section's table in docs/daemon.md is what OPTIONS renders, row for row.

    Regenerate with ``python -m cosem_reader.app.option_docs docs/daemon.md``.
    """
    docs = (Path(__file__).resolve().parents[2] / "docs" / "daemon.md").read_text("utf-8")
    for section in dict.fromkeys(option.section for option in OPTIONS):
        assert f"### [{section}]\n\n{option_table(section)}" in docs, section
    assert with_option_tables(docs) == docs


class TestLayoutsAndScalers:
    def test_layouts_and_scalers_from_the_file(self, tmp_path: Path) -> None:
        """[[layout]] names an OBIS-less list, [scalers] scales registers sent without one."""
        path = write(
            tmp_path / "c.toml",
            SERIAL
            + '[scalers]\n"1-0:31.7.0" = -2\n'
            + '[[layout]]\nname = "mine"\ntypes = ["long-unsigned"]\n'
            + 'fields = ["1.0.32.7.0.255:-1:V"]\n',
        )
        settings = load_settings(str(path), {}, env={})
        (layout,) = settings.decoding.layouts
        assert layout.name == "mine"
        assert {str(code): scaler for code, scaler in settings.decoding.scalers.items()} == {
            "1-0:31.7.0": -2
        }
        rendered = render_settings(settings)
        assert '"1-0:31.7.0" = -2' in rendered
        assert 'name = "mine"' in rendered

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ('[scalers]\n"1-0:99" = 1\n', "scalers.1-0:99: not an OBIS code"),
            ('[scalers]\n"1-0:31.7.0" = "x"\n', "scalers.1-0:31.7.0: expected an integer"),
            ('[[layout]]\nname = "x"\ntypes = ["enum"]\nfields = []\n', "layout[0]: 1 types but 0"),
        ],
    )
    def test_bad_sections_name_the_problem(self, tmp_path: Path, text: str, message: str) -> None:
        """A broken [scalers] or [[layout]] entry is one line naming the entry."""
        path = write(tmp_path / "c.toml", SERIAL + text)
        with pytest.raises(ConfigProblems) as excinfo:
            load_settings(str(path), {}, env={})
        assert any(message in line for line in problems(excinfo)), problems(excinfo)


@pytest.mark.parametrize("option", [o for o in OPTIONS if o.default not in (None, ())],
                         ids=lambda option: option.name)
def test_every_default_passes_its_own_option(option: Option) -> None:
    """The one schema agrees with itself: each default is in its option's type, range, check."""
    assert convert(option, option.default) == option.default


def test_origins_are_data() -> None:
    """Where a value came from, as check and problem lines name it; a higher layer wins."""
    origin = Origin(Layer.ENV, "COSEM_READER_PORT")
    assert (str(origin), origin.where) == ("env COSEM_READER_PORT", "from COSEM_READER_PORT")
    assert Origin(Layer.FILE, "/etc/c.toml").where == "in /etc/c.toml"
    assert str(Origin(Layer.DEFAULT)) == "default"
    assert Layer.DEFAULT < Layer.FILE < Layer.ENV < Layer.FLAG
