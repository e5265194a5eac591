"""OBIS codes, the OBIS table and its names: real vectors, then table rules, then properties."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosem_reader.cosem.obis import (
    NAME_PLACEHOLDERS,
    OBIS_TABLE,
    ObisCode,
    ObisInfo,
    describe,
    format_name,
    lookup,
    lookup_key,
    name_parts,
)
from cosem_reader.cosem.units import unit_code
from cosem_reader.errors import ConfigError, CosemError
from tests.support.vectors import vector_params

#: Units Home Assistant accepts per sensor device class (developers.home-assistant.io,
#: "Sensor entity", available device classes; reactive_energy since 2025.6).
HA_DEVICE_CLASS_UNITS: dict[str, set[str | None]] = {
    "energy": {
        "J",
        "kJ",
        "MJ",
        "GJ",
        "mWh",
        "Wh",
        "kWh",
        "MWh",
        "GWh",
        "TWh",
        "cal",
        "kcal",
        "Mcal",
        "Gcal",
    },
    "power": {"mW", "W", "kW", "MW", "GW", "TW", "BTU/h"},
    "voltage": {"V", "mV", "µV", "kV", "MV"},
    "current": {"A", "mA"},
    "frequency": {"Hz", "kHz", "MHz", "GHz"},
    "power_factor": {None, "%"},
    "reactive_power": {"var", "kvar", "mvar"},
    "apparent_power": {"VA", "kVA", "mVA"},
    "reactive_energy": {"varh", "kvarh"},
}
HA_STATE_CLASSES = {None, "measurement", "total", "total_increasing"}

codes = st.builds(ObisCode, *(st.integers(0, 255) for _ in range(6)))


def _stated_codes(vector: dict[str, Any]) -> list[str]:
    expected = vector["expected"]
    return [*expected.get("values", {}), *expected.get("strings", {})]


def _apdu_codes(vector: dict[str, Any]) -> list[ObisCode]:
    """Every ``09 06`` + 6-byte logical name in an APDU readable without framing or key."""
    if vector["expected"].get("plaintext_hex"):
        apdu = vector["expected"]["plaintext_hex"].upper()
    elif vector["link_layer"] == "raw-apdu" and not vector["encrypted"]:
        apdu = vector["hex"].upper()
    else:
        return []
    return [
        ObisCode.from_bytes(bytes.fromhex(match.group(1)))
        for match in re.finditer("0906([0-9A-F]{12})", apdu)
        if match.start() % 2 == 0
    ]


def _assert_ha_compatible(info: ObisInfo) -> None:
    assert info.state_class in HA_STATE_CLASSES, info
    if info.device_class is not None:
        assert info.unit in HA_DEVICE_CLASS_UNITS[info.device_class], info
    if info.device_class in ("energy", "reactive_energy"):
        assert info.state_class != "measurement", info


# --------------------------------------------------------------------------- real vectors


@pytest.mark.vectors
@pytest.mark.parametrize("vector", vector_params(lambda v: bool(_stated_codes(v))))
def test_every_code_the_sources_state_has_a_table_row(vector: dict[str, Any]) -> None:
    for dotted in _stated_codes(vector):
        code = ObisCode.parse(dotted)
        assert code.dotted == dotted
        row = lookup(code)
        assert row is not None, f"{dotted} has no row in OBIS_TABLE"
        assert row.code == code
        assert describe(code) == row


@pytest.mark.vectors
@pytest.mark.parametrize("vector", vector_params(lambda v: bool(v["expected"].get("values"))))
def test_table_unit_is_the_unit_the_source_states(vector: dict[str, Any]) -> None:
    for dotted, stated in vector["expected"]["values"].items():
        if stated.get("unit") is not None:
            assert describe(ObisCode.parse(dotted)).unit == stated["unit"], dotted


@pytest.mark.vectors
@pytest.mark.parametrize("vector", vector_params(lambda v: bool(_apdu_codes(v))))
def test_every_logical_name_in_a_readable_apdu_has_a_table_row(vector: dict[str, Any]) -> None:
    for code in _apdu_codes(vector):
        assert lookup(code) is not None, str(code)


# --------------------------------------------------------------------------- the table


def test_codes_and_keys_are_unique() -> None:
    assert len({row.code for row in OBIS_TABLE}) == len(OBIS_TABLE)
    assert len({row.key for row in OBIS_TABLE}) == len(OBIS_TABLE)
    for row in OBIS_TABLE:
        assert lookup_key(row.key) is row
        assert re.fullmatch(r"[a-z][a-z0-9_]*", row.key), row.key
        assert row.name_en
        assert row.name_de


@pytest.mark.parametrize("row", OBIS_TABLE, ids=lambda row: row.code.dotted)
def test_row_fits_home_assistant(row: ObisInfo) -> None:
    _assert_ha_compatible(row)
    if row.unit is not None:
        assert unit_code(row.unit) is not None, f"{row.unit} is no DLMS unit symbol"
    if row.code.a == 1 and row.code.d == 8:
        assert row.state_class == "total_increasing"
        assert row.unit in ("Wh", "varh", "VAh")
    if row.code.a == 1 and row.code.d == 7:
        assert row.state_class == "measurement"
    if row.device_class is None and row.unit is None:
        assert row.state_class in (None, "total_increasing")


@pytest.mark.parametrize(
    "text",
    [
        *(f"1-0:{c}.8.{e}" for c in range(1, 9) for e in range(5)),
        *(f"1-0:15.8.{e}" for e in range(5)),
        "1-0:1.128.0",
        *(f"1-0:{c}.{d}.0" for c in (21, 41, 61, 22, 42, 62) for d in (7, 8)),
        *(f"1-0:{c}.7.0" for c in (1, 2, 3, 4, 9, 10, 13, 14, 33, 53, 73, 31, 51, 71, 32, 52, 72)),
        "1-0:81.7.40", "1-0:81.7.51", "1-0:81.7.62",
        "0-0:1.0.0", "0-0:96.1.0", "0-0:96.1.1", "0-0:96.1.7", "0-0:42.0.0",
        "1-1:0.2.129", "0-0:25.9.0", "0-6:25.9.0", "0-8:25.9.0",
        "0-0:96.13.0", "0-0:96.13.1", "1-0:0.9.1", "1-0:0.9.2", "1-3:0.2.8", "0-0:96.7.21",
    ],
)  # fmt: skip
def test_the_usual_electricity_codes_have_rows(text: str) -> None:
    assert lookup(ObisCode.parse(text)) is not None


@pytest.mark.parametrize(
    ("text", "name_en", "name_de"),
    [
        ("1-0:1.8.0", "Active energy import (+A)", "Wirkenergie Bezug (+A)"),
        ("1-0:2.8.0", "Active energy export (−A)", "Wirkenergie Lieferung (−A)"),
        ("1-0:1.8.2", "Active energy import (+A) tariff 2", "Wirkenergie Bezug (+A) Tarif 2"),
        ("1-0:1.7.0", "Active power import (+P)", "Momentane Wirkleistung Bezug (+P)"),
        ("1-0:32.7.0", "Voltage L1", "Spannung L1"),
        ("1-0:71.7.0", "Current L3", "Strom L3"),
        ("1-0:13.7.0", "Power factor", "Leistungsfaktor"),
        ("0-0:96.1.0", "Meter number (device ID 1)", "Zählernummer"),
    ],
)
def test_names_as_operators_write_them(text: str, name_en: str, name_de: str) -> None:
    info = describe(ObisCode.parse(text))
    assert (info.name("en"), info.name("de")) == (name_en, name_de)


def test_channel_does_not_change_the_quantity() -> None:
    base = describe(ObisCode.parse("1-0:1.8.0"))
    info = describe(ObisCode.parse("1-1:1.8.0"))
    assert info.code == ObisCode(1, 1, 1, 8, 0)
    assert (info.key, info.name_en, info.unit, info.state_class) == (
        base.key, base.name_en, base.unit, base.state_class,
    )  # fmt: skip


def test_billing_period_value_extends_the_current_row() -> None:
    info = describe(ObisCode.parse("1-0:1.8.0*3"))
    assert info.key == "active_energy_import_billing_period_3"
    assert info.name_en == "Active energy import (+A), billing period 3"
    assert info.name_de == "Wirkenergie Bezug (+A), Abrechnungsperiode 3"
    assert (info.unit, info.device_class) == ("Wh", "energy")


@pytest.mark.parametrize(
    ("text", "name_en", "unit", "device_class", "state_class"),
    [
        ("1-0:1.8.5", "Active energy import (+A) tariff 5", "Wh", "energy", "total_increasing"),
        ("1-0:16.8.0", "Active energy net (+A−−A)", "Wh", "energy", "total"),
        ("1-0:29.7.0", "Apparent power import (+S) L1", "VA", "apparent_power", "measurement"),
        ("1-0:1.6.1", "Active power import (+P), maximum 1 tariff 1", "W", "power", "measurement"),
        ("1-0:12.7.3", "Voltage harmonic 3", "V", "voltage", "measurement"),
        ("1-0:81.7.15", "Phase angle U(L2)–I(L2)", "°", None, "measurement"),
        ("1-0:12.32.0", "Voltage, under-limit occurrence counter", None, None, "total_increasing"),
        ("7-0:3.0.0", "Gas 7-0:3.0.0", None, None, None),
        ("0-0:96.5.0", "Service entry (0-0:96.5.0)", None, None, None),
    ],
)
def test_codes_outside_the_table_get_a_composed_description(
    text: str, name_en: str, unit: str | None, device_class: str | None, state_class: str | None
) -> None:
    code = ObisCode.parse(text)
    info = describe(code)
    assert info.name_en == name_en
    assert (info.unit, info.device_class, info.state_class) == (unit, device_class, state_class)
    assert lookup(code) is None
    assert info.key == "obis_" + code.dotted.replace(".", "_")


# --------------------------------------------------------------------------- the code


@pytest.mark.parametrize(
    "text",
    ["1-0:1.8.0", "1-0:1.8.0.255", "1-0:1.8.0*255", "1-0:1.8.0&255", "1.0.1.8.0.255",
     "1.0.1.8.0", "1.8.0", " 1-0:1.8.0 ", "1.8.0*255", "1.8.0&255"],
)  # fmt: skip
def test_parse_accepts_the_usual_forms(text: str) -> None:
    assert ObisCode.parse(text) == ObisCode(1, 0, 1, 8, 0, 255)


def test_parse_and_print() -> None:
    assert ObisCode.parse("0-0:96.1.0") == ObisCode(0, 0, 96, 1, 0, 255)
    assert ObisCode.parse("1-0:32.7.0*3") == ObisCode(1, 0, 32, 7, 0, 3)
    assert str(ObisCode(1, 0, 1, 8, 0, 255)) == "1-0:1.8.0"
    assert str(ObisCode(1, 0, 1, 8, 0, 3)) == "1-0:1.8.0*3"
    assert ObisCode(0, 0, 96, 1, 0).dotted == "0.0.96.1.0.255"
    assert ObisCode.from_bytes(bytes.fromhex("0100010800FF")) == ObisCode(1, 0, 1, 8, 0)
    assert ObisCode(1, 0, 1, 8, 0).to_bytes() == bytes.fromhex("0100010800FF")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1-0:1.8",
        "1-0:1.8.0.255.1",
        "1-0:256.8.0",
        "a-b:c.d.e",
        "1:0:1.8.0",
        "1.0.1.8",
        "1.8.0.255",
    ],
)
def test_parse_rejects_what_is_no_obis_code(text: str) -> None:
    with pytest.raises(CosemError) as info:
        ObisCode.parse(text)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("data", [b"", b"\x01\x00\x01\x08\x00", b"\x01\x00\x01\x08\x00\xff\x00"])
def test_from_bytes_needs_six_bytes(data: bytes) -> None:
    with pytest.raises(CosemError, match="6 bytes"):
        ObisCode.from_bytes(data)


def test_groups_must_be_bytes() -> None:
    with pytest.raises(CosemError, match="group C"):
        ObisCode(1, 0, 256, 8, 0)


# --------------------------------------------------------------------------- names


def test_default_template_of_smart_meter_mbus_dlms() -> None:
    template = "[measurement], [measurementType]"
    code = ObisCode.parse("1-0:32.7.0")
    assert format_name(code, "en", template) == "Voltage L1, instantaneous value"
    assert format_name(code, "de", template) == "Spannung L1, Momentanwert"
    # 0-0:96.1.0 has no measurement type: no dangling comma.
    assert format_name(ObisCode.parse("0-0:96.1.0"), "de", template) == "Zählernummer"


def test_empty_parts_leave_no_dangling_delimiters() -> None:
    code = ObisCode.parse("1-0:1.8.0")
    template = "[medium] - [channel] - [measurement], [tariff], [previousMeasurement]"
    assert format_name(code, "en", template) == "Electricity - Active energy import (+A), total"
    assert format_name(code, "de", "[previousMeasurement], [name] ([code])") == (
        "Wirkenergie Bezug (+A) (1-0:1.8.0)"
    )
    assert format_name(code, "en", "[measurement][tariff]") == "Active energy import (+A)total"
    assert format_name(code, "en", "[channel]") == ""


def test_without_template_the_table_name() -> None:
    code = ObisCode.parse("1-0:52.7.0")
    assert format_name(code) == "Voltage L2"
    assert format_name(code, "de") == "Spannung L2"


def test_unknown_language_and_placeholder_are_config_errors() -> None:
    code = ObisCode.parse("1-0:1.8.0")
    with pytest.raises(ConfigError, match="language"):
        format_name(code, "fr")
    with pytest.raises(ConfigError, match="language"):
        describe(code).name("nl")
    with pytest.raises(ConfigError, match=r"\[unit\]"):
        format_name(code, "en", "[name] [unit]")


# --------------------------------------------------------------------------- properties


@given(codes)
def test_text_forms_round_trip(code: ObisCode) -> None:
    assert ObisCode.parse(str(code)) == code
    assert ObisCode.parse(code.dotted) == code
    assert ObisCode.from_bytes(code.to_bytes()) == code


@given(codes, codes)
def test_order_is_the_order_of_the_groups(first: ObisCode, second: ObisCode) -> None:
    assert (first < second) == (first.to_bytes() < second.to_bytes())
    assert (first == second) == (hash(first) == hash(second) and first.dotted == second.dotted)


templates = st.lists(
    st.one_of(
        st.sampled_from([f"[{name}]" for name in NAME_PLACEHOLDERS]),
        st.sampled_from([", ", " - ", " ", ": ", "/", "x", "(", ")"]),
    ),
    max_size=8,
).map("".join)


@given(codes, st.sampled_from(["en", "de"]), st.one_of(st.none(), templates))
def test_format_name_never_raises_and_trims(
    code: ObisCode, language: str, template: str | None
) -> None:
    name = format_name(code, language, template)
    assert name == name.strip(" -,")
    if template is None:
        assert name == describe(code).name(language)


@given(
    codes,
    st.sampled_from(["en", "de"]),
    st.lists(st.sampled_from(NAME_PLACEHOLDERS), min_size=1, max_size=6),
    st.sampled_from([", ", " - ", " ", ","]),
)
def test_empty_parts_merge_their_delimiters(
    code: ObisCode, language: str, names: list[str], separator: str
) -> None:
    parts = name_parts(code, language)
    template = separator.join(f"[{name}]" for name in names)
    expected = separator.join(parts[name] for name in names if parts[name]).strip(" -,")
    assert format_name(code, language, template) == expected


@given(codes)
def test_every_description_fits_home_assistant(code: ObisCode) -> None:
    info = describe(code)
    assert info.code == code
    assert info.name_en
    assert info.name_de
    assert info.key
    _assert_ha_compatible(info)
