"""`config import`: smart-meter-mbus-dlms' default.json5 becomes a config.toml that loads.

TEMPLATE carries the option names and default values of the original's
config/default.template.json5 (nooxnet/smart-meter-mbus-dlms at 64a69c7b); the
comments are ours, written to make the file JSON5 the way the original's is.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosem_reader.app.cli import main
from cosem_reader.app.config import OPTIONS, ConfigProblems, load_settings
from cosem_reader.app.config_import import (
    COMPAT_NAME,
    ORIGINAL_OPTIONS,
    import_config,
    new_name,
    parse_original,
)
from cosem_reader.errors import ConfigError

KEY = "5A1B2C3D4E5F60718293A4B5C6D7E8F9"

TEMPLATE = """{
  // serial line of the M-Bus adapter
  serialPort: {
    port: "/dev/serial/by-id/usb-Prolific_Technology_Inc._USB-Serial_Controller-if00-port0",
    baudRate: 2400,
    dataBits: 8,
    parity: "none",
    stopBits: 1,
  },
  decryption: { key: "abc" },
  decoding: {
    obisLanguage: "de",
    obisNameFormat: "[measurement], [measurementType]",
    obisNameDelimiterCharacters: ",- ",
  },
  mqtt: {
    enabled: false,
    testMode: false,
    host: "192.168.1.10",
    port: 1883,
    rejectUnauthorized: true,
    clientId: "SmartMeterElectricity01",
    username: "",
    password: "",
    topicBase: "SmartMeter/Electricity/Main/",
    topicObisIdentifier: 'name',
    topicIdentifierInvalidCharsRegex: '[^a-zA-z0-9_]',
    topicIdentifierInvalidCharsReplacement: '',
    topicIdentifierReplaceUmlauts: true,
    publishSingleJson: true,
    publishIndividualValues: true,
    includeUnitInIndividualValues: false,
    valueDateTimeFormat: 'iso-local',
    minSecondsBetweenMessages: 0,
    publishIntervalSeconds: "0, 15, 30, 45",
    publishIntervalMinutes: "",
  },
  debug: {
    maxBytes: 0, maxTelegrams: 0, maxApplicationDataUnits: 1,
    logSerialPort: false, logSerialPortMinBytes: 60,
    logTelegramRaw: false, logTelegramJson: false,
    logApduRaw: false, logApduJson: false,
    logApduEncryptedRaw: false, logApduDecryptedRaw: false,
    logApduCosemJson: false, logApduCosemXml: false,
    logObisValuesJson: false, logObisValuesPlain: true,
    logTimes: false,
  },
}
"""


def template_keys() -> list[str]:
    """Every section.key of TEMPLATE, read from its text, not from the module under test."""
    names: list[str] = []
    section = None
    for match in re.finditer(r"(\w+): (\{)?", TEMPLATE):
        if match.group(2) and match.group(1) != "decryption":
            section = match.group(1)
        elif match.group(1) == "decryption":
            section = "decryption"
        else:
            names.append(f"{section}.{match.group(1)}")
    return names


def imported(tmp_path: Path, text: str = TEMPLATE) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(import_config(parse_original(text)).toml, encoding="utf-8")
    path.chmod(0o600)
    return path


class TestImport:
    def test_every_option_of_the_template_is_mapped(self) -> None:
        """Each of the 45 options has a row, and each row names one of our options."""
        ours = {option.name for option in OPTIONS}
        assert len(template_keys()) == 45
        assert sorted(template_keys()) == sorted(o.original for o in ORIGINAL_OPTIONS)
        assert {o.ours for o in ORIGINAL_OPTIONS} <= ours

    def test_round_trip_loads_with_the_mapped_values(self, tmp_path: Path) -> None:
        """The written TOML loads; every value the original set is ours, converted."""
        settings = load_settings(str(imported(tmp_path)), {}, env={})
        shown = settings.shown
        assert shown["serial.port"].endswith("Controller-if00-port0")
        assert (shown["serial.baudrate"], shown["serial.bytesize"]) == (2400, 8)
        assert (shown["serial.parity"], shown["serial.stopbits"]) == ("none", 1.0)
        assert shown["decoding.language"] == "de"
        assert shown["decoding.name_format"] == "[measurement], [measurementType]"
        assert shown["decoding.name_delimiters"] == ",- "
        assert shown["mqtt.topic_base"] == "SmartMeter/Electricity/Main"
        assert shown["mqtt.topic_identifier"] == "name"
        assert shown["mqtt.invalid_characters"] == "[^a-zA-z0-9_]"
        assert shown["mqtt.invalid_character_replacement"] == ""
        assert shown["mqtt.date_time_format"] == "iso-local"
        assert shown["mqtt.publish_at_seconds"] == (0, 15, 30, 45)
        assert shown["mqtt.publish_at_minutes"] == ()
        assert shown["mqtt.client_id"] == "SmartMeterElectricity01"
        assert (shown["mqtt.qos"], shown["mqtt.retain"]) == (0, False)
        assert shown["mqtt.homeassistant_discovery"] is False
        assert shown["mqtt.compat"] == COMPAT_NAME
        assert settings.mqtt.enabled is False
        assert settings.debug.stop_after_apdus == 1
        assert settings.debug.log_serial_min_bytes == 60
        assert settings.debug.log_obis_plain is True
        assert settings.mqtt.compat == COMPAT_NAME
        assert not any("mqtt.compat" in warning for warning in settings.warnings)

    def test_empty_credentials_and_a_placeholder_key_are_left_out(self, tmp_path: Path) -> None:
        """username "" is no user; key "abc" is no key, and the comment says where it goes."""
        text = imported(tmp_path).read_text()
        assert "# key: decryption.key: the file's key is not 32 hex digits" in text
        assert "abc" not in text
        data = tomllib.loads(text)
        assert "username" not in data["mqtt"]
        assert "password" not in data["mqtt"]

    def test_a_real_key_and_password_are_kept(self, tmp_path: Path) -> None:
        text = TEMPLATE.replace('key: "abc"', f'key: "{KEY.lower()}"').replace(
            'password: ""', 'password: "s3cret"'
        )
        settings = load_settings(str(imported(tmp_path, text)), {}, env={})
        assert settings.meters[0].key == bytes.fromhex(KEY)
        assert settings.mqtt.password == "s3cret"

    def test_topic_base_without_slash_is_a_comment(self) -> None:
        """The original replaced such a base by '/': no value can say that, so a note does."""
        text = TEMPLATE.replace("Main/", "Main")
        result = import_config(parse_original(text))
        assert "topic_base =" not in result.toml
        assert any("no trailing '/'" in note for note in result.notes)

    def test_bad_interval_list_is_left_out(self) -> None:
        """The original ignored "0, x" entirely; so does the import, with a note."""
        result = import_config(parse_original(TEMPLATE.replace('"0, 15, 30, 45"', '"0, x"')))
        assert "publish_at_seconds =" not in result.toml
        assert any("publishIntervalSeconds" in note for note in result.notes)

    def test_topic_identifier_code_still_gives_names(self) -> None:
        """The original's getTopic always used the name: 'code' must not change the topics."""
        result = import_config(parse_original(TEMPLATE.replace("'name'", "'code'")))
        assert tomllib.loads(result.toml)["mqtt"]["topic_identifier"] == "name"

    def test_unknown_key_is_named(self) -> None:
        result = import_config({"mqtt": {"topicBase": "a/", "colour": "red"}})
        assert result.notes == ("mqtt.colour: not an option of smart-meter-mbus-dlms; left out",)

    def test_plain_json_needs_no_json5(self) -> None:
        """A file that is plain JSON is read by the standard library."""
        data = parse_original(json.dumps({"mqtt": {"enabled": True}}))
        assert data == {"mqtt": {"enabled": True}}

    def test_not_json5_is_one_line(self) -> None:
        with pytest.raises(ConfigError, match="not valid JSON5"):
            parse_original("{ serialPort: ", "default.json5")

    @given(st.text(alphabet=st.characters(codec="utf-8"), max_size=40))
    def test_any_string_survives_as_toml(self, value: str) -> None:
        """Whatever text the original held (port, client id) comes back unchanged."""
        result = import_config({"mqtt": {"clientId": value}})
        data = tomllib.loads(result.toml)
        assert data["mqtt"].get("client_id", "") == value


class TestCommand:
    def test_import_writes_a_private_file(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        source = tmp_path / "default.json5"
        source.write_text(TEMPLATE, encoding="utf-8")
        out = tmp_path / "config.toml"
        assert main(["config", "import", str(source), "-o", str(out)]) == 0
        assert out.stat().st_mode & 0o077 == 0
        assert "decryption.key" in capsys.readouterr().err
        assert main(["config", "check", "--config", str(out)]) == 0
        assert 'compat = "smart-meter-mbus-dlms"' in capsys.readouterr().out

    def test_existing_output_is_kept(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        source = tmp_path / "default.json5"
        source.write_text("{}", encoding="utf-8")
        out = tmp_path / "config.toml"
        out.write_text("mine")
        assert main(["config", "import", str(source), "-o", str(out)]) == 78
        assert "exists; choose another -o, or add --force" in capsys.readouterr().err
        assert out.read_text() == "mine"

    def test_missing_file(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["config", "import", str(tmp_path / "default.json5")]) == 66
        err = capsys.readouterr().err
        assert err.count("\n") == 1
        assert "cannot read" in err


CAMEL_CASE: dict[str, Any] = {
    "mqtt.minSecondsBetweenMessages": "mqtt.min_interval",
    "mqtt.includeUnitInIndividualValues": "mqtt.include_unit",
    "decoding.obisNameDelimiterCharacters": "decoding.name_delimiters",
    "debug.maxApplicationDataUnits": "debug.stop_after_apdus",
}


class TestHints:
    @pytest.mark.parametrize(("original", "ours"), CAMEL_CASE.items())
    def test_the_four_of_the_issue(self, tmp_path: Path, original: str, ours: str) -> None:
        section, key = original.split(".")
        path = tmp_path / "c.toml"
        path.write_text(f'[serial]\nport = "/dev/a"\n[{section}]\n{key} = 1\n')
        with pytest.raises(ConfigProblems) as excinfo:
            load_settings(str(path), {}, env={})
        assert f"did you mean {ours!r}?" in str(excinfo.value)

    def test_every_camel_case_key_of_the_template(self, tmp_path: Path) -> None:
        """The whole template, pasted as TOML under its own section names: one hint each."""
        data = json.loads(json.dumps(parse_original(TEMPLATE)))
        lines = []
        for section, table in data.items():
            lines.append(f"[{section}]")
            lines += [f"{key} = {json.dumps(value)}" for key, value in table.items()]
        path = tmp_path / "c.toml"
        path.write_text("\n".join(lines) + "\n")
        with pytest.raises(ConfigProblems) as excinfo:
            load_settings(str(path), {}, env={})
        answered = {
            str(problem).split(":", 1)[0]: str(problem) for problem in excinfo.value.problems
        }
        camel = [
            name
            for name in template_keys()
            if re.search(r"[A-Z]", name.split(".")[1]) or name.startswith("serialPort")
        ]
        for name in camel:
            assert f"did you mean {new_name(name)!r}?" in answered[name], name

    def test_meter_table_too(self, tmp_path: Path) -> None:
        path = tmp_path / "c.toml"
        path.write_text('[[meter]]\nport = "/dev/a"\ntopicBase = "x"\n')
        with pytest.raises(ConfigProblems, match=r"did you mean 'mqtt\.topic_base'"):
            load_settings(str(path), {}, env={})

    def test_our_own_names_are_not_renamed(self) -> None:
        assert new_name("mqtt.host") is None
        assert new_name("mqtt.port") is None
        assert new_name("serialPort") == "serial"


def test_migrating_md_lists_every_option_with_its_equivalent() -> None:
    """docs/migrating.md has a row per option of the original's template, with our name."""
    docs = (Path(__file__).resolve().parents[2] / "docs" / "migrating.md").read_text("utf-8")
    for name in template_keys():
        row = next((line for line in docs.splitlines() if line.startswith(f"| `{name}` |")), "")
        assert f"`{new_name(name) or name}`" in row, name


def test_compat_flag_is_an_option(capsys: pytest.CaptureFixture[str]) -> None:
    """--compat is checked like any option; now acted on, it draws no warning."""
    assert main(["config", "check", "--port", "/dev/a", "--compat", COMPAT_NAME]) == 0
    captured = capsys.readouterr()
    assert f'compat = "{COMPAT_NAME}"  # from flag --compat' in captured.out
    assert "compat" not in captured.err
    assert main(["config", "check", "--port", "/dev/a", "--compat", "other"]) == 78
