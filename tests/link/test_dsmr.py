"""DSMR P1 telegrams, plain (NL/BE/LU) and ciphered (Sagemcom T210-D-r, Luxembourg Smarty)."""

from __future__ import annotations

import gc
import json
import random
import threading
import tracemalloc
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion

from cosem_reader.app.cli import main
from cosem_reader.cosem.dsmr_readings import notification_from_telegram, parse_telegram
from cosem_reader.cosem.readings import Notification
from cosem_reader.errors import FrameError, SecurityError
from cosem_reader.link import dsmr
from cosem_reader.link.dsmr import P1Reader, Telegram, crc16
from cosem_reader.output.jsonout import notification_to_dict
from cosem_reader.pipeline.decoder import StreamDecoder, decode_capture
from cosem_reader.pipeline.probe import LinkProbe
from cosem_reader.security.authentication import RejectedPushError
from cosem_reader.security.ciphering import CipheredApdu
from tests.support.broker import Broker, broker_fixture  # noqa: F401  (the fixture)
from tests.support.daemon import Daemon
from tests.support.dsmr_telegrams import SAGEMCOM_SYSTEM_TITLE, ciphered_telegram, telegram
from tests.support.pty_meter import PtyMeter

KEY = bytes.fromhex("AA" * 16)
AUTH_KEY = bytes.fromhex("BB" * 16)
SUMMER = timezone(timedelta(hours=2))
WINTER = timezone(timedelta(hours=1))

# Published example telegrams (facts, with the CRC the meter wrote), from
# ndokter/dsmr_parser test/example_telegrams.py: a Sagemcom T210-D-r of Energienetze
# Steiermark, a DSMR 5 and a DSMR 4.2 (Kaifa) telegram, and a DSMR 2.2 one without CRC.
T210_D_R = (
    b"/EST5\\253710000_A\r\n\r\n1-3:0.2.8(50)\r\n0-0:1.0.0(221006155014S)\r\n"
    b"1-0:1.8.0(006545766*Wh)\r\n1-0:1.8.1(005017120*Wh)\r\n1-0:1.8.2(001528646*Wh)\r\n"
    b"1-0:1.7.0(000000286*W)\r\n1-0:2.8.0(000000058*Wh)\r\n1-0:2.8.1(000000000*Wh)\r\n"
    b"1-0:2.8.2(000000058*Wh)\r\n1-0:2.7.0(000000000*W)\r\n1-0:3.8.0(000000747*varh)\r\n"
    b"1-0:3.8.1(000000000*varh)\r\n1-0:3.8.2(000000747*varh)\r\n1-0:3.7.0(000000000*var)\r\n"
    b"1-0:4.8.0(003897726*varh)\r\n1-0:4.8.1(002692848*varh)\r\n1-0:4.8.2(001204878*varh)\r\n"
    b"1-0:4.7.0(000000166*var)\r\n!7EF9\r\n"
)
DSMR5 = (
    b"/ISk5\\2MT382-1000\r\n\r\n1-3:0.2.8(50)\r\n0-0:1.0.0(170102192002W)\r\n"
    b"0-0:96.1.1(4B384547303034303436333935353037)\r\n1-0:1.8.1(000004.426*kWh)\r\n"
    b"1-0:1.8.2(000002.399*kWh)\r\n1-0:2.8.1(000002.444*kWh)\r\n1-0:2.8.2(000000.000*kWh)\r\n"
    b"0-0:96.14.0(0002)\r\n1-0:1.7.0(00.244*kW)\r\n1-0:2.7.0(00.000*kW)\r\n"
    b"0-0:96.7.21(00013)\r\n0-0:96.7.9(00000)\r\n1-0:99.97.0(0)(0-0:96.7.19)\r\n"
    b"1-0:32.32.0(00000)\r\n1-0:52.32.0(00000)\r\n1-0:72.32.0(00000)\r\n1-0:32.36.0(00000)\r\n"
    b"1-0:52.36.0(00000)\r\n1-0:72.36.0(00000)\r\n0-0:96.13.0()\r\n1-0:32.7.0(0230.0*V)\r\n"
    b"1-0:52.7.0(0230.0*V)\r\n1-0:72.7.0(0229.0*V)\r\n1-0:31.7.0(0.48*A)\r\n"
    b"1-0:51.7.0(0.44*A)\r\n1-0:71.7.0(0.86*A)\r\n1-0:21.7.0(00.070*kW)\r\n"
    b"1-0:41.7.0(00.032*kW)\r\n1-0:61.7.0(00.142*kW)\r\n1-0:22.7.0(00.000*kW)\r\n"
    b"1-0:42.7.0(00.000*kW)\r\n1-0:62.7.0(00.000*kW)\r\n0-1:24.1.0(003)\r\n"
    b"0-1:96.1.0(3232323241424344313233343536373839)\r\n"
    b"0-1:24.2.1(170102161005W)(00000.107*m3)\r\n0-2:24.1.0(003)\r\n0-2:96.1.0()\r\n!6EEE\r\n"
)
DSMR4_2_HEAD = (
    b"/KFM5KAIFA-METER\r\n\r\n1-3:0.2.8(42)\r\n0-0:1.0.0(161113205757W)\r\n"
    b"0-0:96.1.1(3960221976967177082151037881335713)\r\n1-0:1.8.1(001581.123*kWh)\r\n"
    b"1-0:1.8.2(001435.706*kWh)\r\n1-0:2.8.1(000000.000*kWh)\r\n1-0:2.8.2(000000.000*kWh)\r\n"
    b"0-0:96.14.0(0002)\r\n1-0:1.7.0(02.027*kW)\r\n1-0:2.7.0(00.000*kW)\r\n"
    b"0-0:96.7.21(00015)\r\n0-0:96.7.9(00007)\r\n"
    b"1-0:99.97.0(3)(0-0:96.7.19)(000104180320W)(0000237126*s)(000101000001W)"
    b"(2147583646*s)(000102000003W)(2317482647*s)\r\n"
    b"1-0:32.32.0(00000)\r\n1-0:52.32.0(00000)\r\n1-0:72.32.0(00000)\r\n1-0:32.36.0(00000)\r\n"
    b"1-0:52.36.0(00000)\r\n1-0:72.36.0(00000)\r\n0-0:96.13.1()\r\n0-0:96.13.0()\r\n"
    b"1-0:31.7.0(000*A)\r\n1-0:51.7.0(006*A)\r\n1-0:71.7.0(002*A)\r\n1-0:21.7.0(00.170*kW)\r\n"
    b"1-0:22.7.0(00.000*kW)\r\n1-0:41.7.0(01.247*kW)\r\n1-0:42.7.0(00.000*kW)\r\n"
    b"1-0:61.7.0(00.209*kW)\r\n1-0:62.7.0(00.000*kW)\r\n0-1:24.1.0(003)\r\n"
    b"0-1:96.1.0(4819243993373755377509728609491464)\r\n"
    b"0-1:24.2.1(161129200000W)(00981.443*m3)\r\n!"
)
DSMR4_2 = DSMR4_2_HEAD + b"6796\r\n"
DSMR2_2 = (
    b"/ISk5\\2MT382-1004\r\n\r\n0-0:96.1.1(00000000000000)\r\n1-0:1.8.1(00001.001*kWh)\r\n"
    b"1-0:1.8.2(00001.001*kWh)\r\n1-0:2.8.1(00001.001*kWh)\r\n1-0:2.8.2(00001.001*kWh)\r\n"
    b"0-0:96.14.0(0001)\r\n1-0:1.7.0(0001.01*kW)\r\n1-0:2.7.0(0000.00*kW)\r\n"
    b"0-0:17.0.0(0999.00*kW)\r\n0-0:96.3.10(1)\r\n0-0:96.13.1()\r\n0-0:96.13.0()\r\n"
    b"0-1:24.1.0(3)\r\n0-1:96.1.0(000000000000)\r\n"
    b"0-1:24.3.0(161107190000)(00)(60)(1)(0-1:24.2.1)(m3)\r\n(00001.001)\r\n"
    b"0-1:24.4.0(1)\r\n!\r\n"
)


def read_all(data: bytes, chunk: int = 1) -> list[Telegram | bytes | FrameError]:
    reader = P1Reader()
    found: list[Telegram | bytes | FrameError] = []
    for start in range(0, len(data), chunk):
        found += reader.feed(data[start : start + chunk])
    return found + reader.flush()


def only(results: list[Telegram | bytes | FrameError]) -> Telegram:
    assert len(results) == 1, results
    assert isinstance(results[0], Telegram), results
    return results[0]


# -- CRC and the reader -----------------------------------------------------------------


@pytest.mark.parametrize(("text", "crc"), [(T210_D_R, 0x7EF9), (DSMR5, 0x6EEE), (DSMR4_2, 0x6796)])
def test_published_telegrams_pass_their_crc(text: bytes, crc: int) -> None:
    """CRC-16/ARC over '/' … '!' gives what the published telegrams carry."""
    assert crc16(text[: text.index(b"!") + 1]) == crc
    assert only(read_all(text)).crc == crc


def test_a_wrong_crc_is_one_error_and_the_next_telegram_still_counts() -> None:
    damaged = DSMR4_2.replace(b"001581.123", b"001581.124")
    results = read_all(damaged + b"\r\n" + T210_D_R, chunk=13)
    assert isinstance(results[0], FrameError)
    assert "CRC 6796 does not match" in str(results[0])
    assert only(results[1:]).crc == 0x7EF9


def test_dsmr2_telegrams_have_no_crc() -> None:
    assert only(read_all(DSMR2_2)).crc is None


def test_noise_between_telegrams_is_skipped() -> None:
    noise = bytes([0x00, 0xFF, 0x7E, 0xA0, 0x07, 0x7E, 0x21]) + b"!!/x\r\n"
    results = read_all(noise + T210_D_R + noise + DSMR5 + noise, chunk=5)
    assert [item.crc for item in results if isinstance(item, Telegram)] == [0x7EF9, 0x6EEE]
    assert results == [item for item in results if isinstance(item, Telegram)]


def test_a_telegram_cut_off_by_the_next_one_is_reported_and_the_next_is_kept() -> None:
    cut = T210_D_R[:200]
    results = read_all(cut + DSMR5, chunk=64)
    assert isinstance(results[0], FrameError)
    assert "cut off" in str(results[0])
    assert results[0].offset == 0
    assert only(results[1:]).crc == 0x6EEE


def test_a_telegram_cut_off_by_the_end_of_the_stream_is_reported() -> None:
    results = read_all(DSMR5 + T210_D_R[:100])
    assert isinstance(results[1], FrameError)
    assert "end of the stream" in str(results[1])
    assert results[1].offset == len(DSMR5)


# -- telegram text to readings ----------------------------------------------------------


def test_steiermark_t210_d_r_readings() -> None:
    """Exact values and units as written, the meter's time with its summer offset."""
    found = only(read_all(T210_D_R))
    assert found.identification == "EST5\\253710000_A"
    notification = notification_from_telegram(found)
    assert notification.timestamp == datetime(2022, 10, 6, 15, 50, 14, tzinfo=SUMMER)
    energy = notification.reading("1-0:1.8.0")
    assert energy is not None
    assert (energy.value, energy.unit, energy.scaler) == (Decimal(6545766), "Wh", 0)
    reactive = notification.reading("1-0:4.7.0")
    assert reactive is not None
    assert (reactive.value, reactive.unit) == (Decimal(166), "var")
    assert len(notification.readings) == 18
    assert notification.values["1-3:0.2.8"] == "50"


def test_dsmr5_readings() -> None:
    notification = notification_from_telegram(only(read_all(DSMR5)))
    assert notification.timestamp == datetime(2017, 1, 2, 19, 20, 2, tzinfo=WINTER)
    values = notification.values
    assert values["1-0:1.8.1"] == Decimal("4.426")
    reading = notification.reading("1-0:1.8.1")
    assert reading is not None
    assert (reading.unit, reading.scaler) == ("kWh", -3)
    assert values["0-0:96.1.1"] == "K8EG004046395507"
    assert values["0-0:96.14.0"] == "0002"
    assert values["0-0:96.7.21"] == 13
    assert values["0-1:24.2.1"] == Decimal("0.107")
    assert values["1-0:99.97.0"] == "(0)(0-0:96.7.19)"
    assert values["0-0:96.13.0"] == ""
    document = notification_to_dict(notification)
    assert document["timestamp"] == "2017-01-02T19:20:02+01:00"
    assert document["values"]["1-0:32.7.0"]["unit"] == "V"
    assert json.loads(json.dumps(document, default=str))["values"]["1-0:31.7.0"]["value"] == "0.48"


def test_dsmr2_gas_reading_on_its_continuation_line() -> None:
    notification = notification_from_telegram(only(read_all(DSMR2_2)), UTC)
    gas = notification.reading("0-1:24.3.0")
    assert gas is not None
    assert (gas.value, gas.unit) == (Decimal("1.001"), "m3")
    assert notification.timestamp is None


def test_a_line_that_is_no_object_is_skipped() -> None:
    text = telegram("XMX5TEST", ["1-0:1.8.0(000001.000*kWh)", "garbage", "1-0:2.8.0(2*kWh)"])
    notification = notification_from_telegram(only(read_all(text)))
    assert list(notification.values) == ["1-0:1.8.0", "1-0:2.8.0"]


_UNITS = st.sampled_from(["kWh", "Wh", "kW", "W", "V", "A", "m3", "varh", "kvar"])


@settings(max_examples=60, deadline=None)
@given(
    registers=st.lists(
        st.tuples(
            st.integers(1, 90),
            st.integers(0, 9),
            st.integers(0, 9),
            st.decimals(min_value=0, max_value=10**6, places=3),
            _UNITS,
        ),
        min_size=1,
        max_size=12,
        unique_by=lambda item: item[:3],
    ),
    chunk=st.integers(1, 64),
)
def test_written_telegrams_read_back(
    registers: list[tuple[int, int, int, Decimal, str]], chunk: int
) -> None:
    """What the test encoder writes, any chunking, reads back as the same values and units."""
    lines = [f"1-0:{c}.{d}.{e}({value:010.3f}*{unit})" for c, d, e, value, unit in registers]
    found = only(read_all(b"\r\n" + telegram("ABC5ZZ", lines) + b"\x00", chunk))
    readings = notification_from_telegram(found).readings
    assert [(r.value, r.unit) for r in readings] == [(v, u) for *_, v, u in registers]


@settings(max_examples=100, deadline=None)
@given(noise=st.binary(max_size=300), chunk=st.integers(1, 50))
def test_the_reader_never_raises_on_noise(noise: bytes, chunk: int) -> None:
    results = read_all(noise + T210_D_R, chunk)
    assert any(isinstance(item, Telegram) for item in results) or b"/" in noise or 0xDB in noise


# -- ciphered P1 frames ----------------------------------------------------------------


def ciphered_stream(count: int, noise: bytes = b"") -> bytes:
    lines = [f"1-0:1.8.0({6545766 + index:09d}*Wh)" for index in range(count)]
    return noise + noise.join(
        ciphered_telegram(telegram("EST5\\253710000_A", [line]), KEY, AUTH_KEY, 100 + index)
        for index, line in enumerate(lines)
    )


def feed(decoder: StreamDecoder, data: bytes, chunk: int) -> list[object]:
    results: list[object] = []
    for start in range(0, len(data), chunk):
        results += decoder.feed(data[start : start + chunk])
    return results + decoder.flush()


@pytest.mark.parametrize("layer", ["dsmr", "auto"])
def test_ciphered_frames_with_noise_between_are_deciphered_and_authenticated(layer: str) -> None:
    noise = b"\r\n\x00\x7e\xa0\x05\x00\x00\x7e\xdb\x08SAG\r\n"
    decoder = StreamDecoder(key=KEY, auth_key=AUTH_KEY, layer=layer)  # type: ignore[arg-type]
    results = feed(decoder, ciphered_stream(3, noise), 50)
    assert decoder.active_layer == "dsmr"
    assert all(isinstance(item, Notification) for item in results), results
    notifications = [item for item in results if isinstance(item, Notification)]
    assert [n.values["1-0:1.8.0"] for n in notifications] == [6545766, 6545767, 6545768]
    first = notifications[0]
    assert (first.system_title, first.frame_counter) == (SAGEMCOM_SYSTEM_TITLE, 100)
    assert first.tag_verified is True
    assert first.apdu_type == "dsmr-telegram"


def test_the_published_t210_telegram_ciphered_as_the_meter_does() -> None:
    """dsmr_parser's T210-D-r test: system title SYSTEMID, frame counter 0x10000001."""
    frame = ciphered_telegram(T210_D_R, KEY, AUTH_KEY, 0x10000001, b"SYSTEMID")
    assert frame[:10] == b"\xdb\x08SYSTEMID"
    # 82 01 F2, 511 bytes in all: what the Steiermark meters send (research notes, T-RAW)
    assert frame[10:14] == b"\x82\x01\xf2\x30"
    assert len(frame) == 511
    (notification,) = decode_capture(frame, key=KEY, auth_key=AUTH_KEY, layer="dsmr")
    assert isinstance(notification, Notification)
    assert notification.values["1-0:1.8.0"] == Decimal(6545766)
    assert notification.frame_counter == 0x10000001


def test_a_wrong_authentication_key_is_one_error_and_the_stream_goes_on() -> None:
    wrong = ciphered_telegram(telegram("EST5X", ["1-0:1.8.0(1*Wh)"]), KEY, bytes(16), 101)
    # The frame counter rises from push to push: a repeated one would be rejected too.
    later = ciphered_telegram(telegram("EST5X", ["1-0:1.8.0(2*Wh)"]), KEY, AUTH_KEY, 102)
    stream = ciphered_stream(1) + b"\r\n" + wrong + later
    results = decode_capture(stream, key=KEY, auth_key=AUTH_KEY, layer="dsmr")
    assert [type(item) for item in results] == [Notification, RejectedPushError, Notification]
    assert "authentication key is the likely culprit" in str(results[1])


def test_a_deciphered_telegram_with_a_wrong_crc_is_an_error() -> None:
    damaged = T210_D_R.replace(b"!7EF9", b"!7EF8")
    results = decode_capture(ciphered_telegram(damaged, KEY, AUTH_KEY), key=KEY, auth_key=AUTH_KEY)
    assert len(results) == 1
    assert isinstance(results[0], FrameError)
    assert "CRC 7EF8" in str(results[0])


def test_without_a_key_the_frame_header_is_shown() -> None:
    results = decode_capture(ciphered_stream(2, b"\r\n"), layer="dsmr")
    assert [type(item) for item in results] == [CipheredApdu, CipheredApdu]


# -- recognising the link layer ----------------------------------------------------------


@pytest.mark.parametrize("start", [0, 1, 57, 300])
def test_auto_finds_plain_dsmr_from_any_start(start: int) -> None:
    stream = (DSMR5 + T210_D_R + DSMR4_2 + DSMR5)[start:]
    decoder = StreamDecoder(layer="auto")
    results = feed(decoder, stream, 32)
    assert decoder.active_layer == "dsmr"
    notifications = [item for item in results if isinstance(item, Notification)]
    assert len(notifications) >= 3
    assert notifications[-1].values["1-0:1.8.1"] == Decimal("4.426")


@pytest.mark.parametrize("start", [1, 100, 180])
def test_auto_finds_ciphered_p1_from_inside_a_frame(start: int) -> None:
    stream = ciphered_stream(6, b"\r\n")[start:]
    prober = LinkProbe()
    found = None
    for index in range(0, len(stream), 20):
        found = prober.feed(stream[index : index + 20])
        if found is not None:
            break
    assert found is not None
    assert found[0] == "dsmr"


def test_cli_decodes_a_dsmr_capture(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capture = tmp_path / "p1.bin"
    capture.write_bytes(ciphered_stream(2, b"\r\n"))
    code = main(["decode", str(capture), "--key", KEY.hex(), "--auth-key", AUTH_KEY.hex()])
    out, err = capsys.readouterr()
    assert code == 0, err
    documents = [json.loads(line) for line in out.splitlines()]
    assert [d["values"]["1-0:1.8.0"]["value"] for d in documents] == [6545766, 6545767]
    assert documents[0]["frame_counter"] == 100


def test_cli_xml_shows_the_telegram_and_the_ciphered_frame(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Deciphered: the telegram in a comment (no APDU to translate); without key: Gurux XML."""
    capture = tmp_path / "p1.bin"
    capture.write_bytes(ciphered_telegram(T210_D_R, KEY, AUTH_KEY, 5) + b"\r\n")
    argv = ["decode", str(capture), "--layer", "dsmr", "--format", "xml"]
    assert main([*argv, "--key", KEY.hex(), "--auth-key", AUTH_KEY.hex()]) == 0
    out = capsys.readouterr().out
    assert out.startswith("<!-- DSMR telegram\n/EST5\\253710000_A")
    assert "1-0:1.8.0(006545766*Wh)" in out
    main(argv)
    out = capsys.readouterr().out
    assert "<GeneralGloCiphering>" in out


# -- the daemon: serial port to MQTT and Home Assistant ---------------------------------


@pytest.mark.broker
def test_t210_on_a_serial_port_to_mqtt_and_home_assistant(meter: PtyMeter, broker: Broker) -> None:
    """Ciphered telegrams with noise between, joined mid-frame: state, values, discovery."""
    received: list[tuple[str, bytes]] = []
    changed = threading.Condition()
    subscribed = threading.Event()

    def on_message(_client: paho.Client, _userdata: object, message: paho.MQTTMessage) -> None:
        with changed:
            received.append((message.topic, bytes(message.payload)))
            changed.notify_all()

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="test-dsmr")
    client.on_message = on_message
    client.on_subscribe = lambda *_args: subscribed.set()
    client.connect(broker.host, broker.port)
    client.subscribe([("p1/#", 1), ("homeassistant/#", 1)])
    client.loop_start()
    assert subscribed.wait(10)
    args = ["--port", str(meter.path), "--key", KEY.hex(), "--auth-key", AUTH_KEY.hex()]
    daemon = Daemon([*args, "--mqtt-url", broker.url, "--topic-base", "p1", "--name", "styria"])
    try:
        daemon.wait_for_stderr("reading serial port")
        meter.write(ciphered_stream(4, b"\r\n\x00")[40:])

        def states() -> list[dict[str, object]]:
            return [json.loads(p) for t, p in received if t == "p1/styria/state"]

        with changed:
            assert changed.wait_for(lambda: len(states()) >= 3, 20), daemon.output()
            found = states()
            configs = [json.loads(p) for t, p in received if t.startswith("homeassistant/") and p]
        assert [state["frame_counter"] for state in found] == [101, 102, 103]
        assert found[0]["values"]["1-0:1.8.0"] == {  # type: ignore[index]
            "value": 6545767,
            "unit": "Wh",
            "name": "Active energy import (+A)",
        }
        energy = [c for c in configs if c.get("unit_of_measurement") == "Wh"]
        assert energy, configs
        assert energy[0]["device_class"] == "energy"
    finally:
        assert daemon.stop() == 0
        client.loop_stop()
        client.disconnect()


def test_with_an_authentication_key_a_plain_telegram_does_not_count() -> None:
    """Only authenticated telegrams count once the user gave the key to check them."""
    stream = DSMR5 + ciphered_stream(1) + b"\r\n"
    results = decode_capture(stream, key=KEY, auth_key=AUTH_KEY, layer="dsmr")
    assert [type(item) for item in results] == [SecurityError, Notification]
    assert "only authenticated telegrams count" in str(results[0])


@settings(max_examples=80, deadline=None)
@given(
    noise=st.lists(st.binary(max_size=40), min_size=4, max_size=4),
    chunk=st.integers(1, 80),
    layer=st.sampled_from(["dsmr", "auto"]),
)
def test_noise_between_ciphered_frames_loses_no_frame(
    noise: list[bytes], chunk: int, layer: str
) -> None:
    """Whatever lies between the frames (no DB 08 in it), every frame is deciphered."""
    gaps = [b"\r\n" + gap.replace(b"\xdb", b"") for gap in noise]
    frames = [
        ciphered_telegram(telegram("EST5X", [f"1-0:1.8.0({index}*Wh)"]), KEY, AUTH_KEY, index)
        for index in range(4)
    ]
    stream = b"".join(gap + frame for gap, frame in zip(gaps, frames, strict=True)) + b"\r\n"
    decoder = StreamDecoder(key=KEY, auth_key=AUTH_KEY, layer=layer)  # type: ignore[arg-type]
    results = feed(decoder, stream, chunk)
    notifications = [item for item in results if isinstance(item, Notification)]
    assert [n.frame_counter for n in notifications] == [0, 1, 2, 3], results


@pytest.mark.parametrize(
    "garbage",
    [
        "binary",  # random bytes
        "text",  # a telegram start and then text with no end
        "header",  # a ciphered frame header that claims 16 KiB and never ends
    ],
)
def test_memory_stays_flat_on_endless_garbage(garbage: str) -> None:
    """What the P1 layer holds is bounded by the largest telegram or frame."""
    rng = random.Random(9)
    if garbage == "binary":
        chunks = [bytes(rng.randrange(256) for _ in range(512)) for _ in range(64)]
    elif garbage == "text":
        chunks = [b"/ABC5 no end\r\n" + b"1-0:1.8.0(000001.000*kWh)\r\n" * 18] * 64
    else:
        chunks = [b"\xdb\x08SAG\x00\x00\x00\x00\x00\x82\x40\x00\x30" + bytes(497)] * 64
    decoder = StreamDecoder(key=KEY, auth_key=AUTH_KEY, layer="dsmr")
    results: list[object] = []
    tracemalloc.start()
    try:
        for round_ in range(12):
            for chunk in chunks:
                results += decoder.feed(chunk)
            if round_ == 3:
                gc.collect()
                warm = tracemalloc.get_traced_memory()[0]
                results.clear()
        results.clear()
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - warm
    finally:
        tracemalloc.stop()
    assert grown < 64 * 1024, grown


def test_joined_between_frames_then_noise_loses_no_frame() -> None:
    """A serial read that ends with the first frame, then noise: every frame still decodes.

    Regression: the whole first frame looked like a capture of bare APDUs, whose reader
    cannot step over the noise after it.
    """
    first, second = (
        ciphered_telegram(telegram("EST5X", [f"1-0:1.8.0({n}*Wh)"]), KEY, AUTH_KEY, n)
        for n in (1, 2)
    )
    decoder = StreamDecoder(key=KEY, auth_key=AUTH_KEY)
    results = decoder.feed(first) + decoder.feed(b"\r\n\x00\x17garbage" + second) + decoder.flush()
    assert decoder.active_layer == "dsmr"
    assert [n.frame_counter for n in results if isinstance(n, Notification)] == [1, 2], results


def test_auto_finds_plain_dsmr2_without_crc() -> None:
    """DSMR 2.2 writes no CRC: telegrams whose every line is an object tell the layer."""
    decoder = StreamDecoder(local_zone=UTC)
    results = feed(decoder, b"noise\r\n" + DSMR2_2 * 2, 40)
    assert decoder.active_layer == "dsmr"
    notifications = [item for item in results if isinstance(item, Notification)]
    assert [n.values["1-0:1.8.1"] for n in notifications] == [Decimal("1.001")] * 2
    assert not _all_objects_of(T210_D_R.replace(b"1-0:1.7.0", b"garbage"))


def _all_objects_of(text: bytes) -> bool:
    found = only(read_all(text.replace(b"!7EF9", b"!")))
    assert found.crc is None
    return dsmr._all_objects(found)


def test_telegram_numbers_carry_their_scale_from_the_push() -> None:
    """A number written with a unit or decimals has a known scale; a bare count has none."""
    written = Telegram(
        b"/ISK5\\2M550T-1012\r\n\r\n1-0:1.8.1(000404.123*kWh)\r\n1-0:1.7.0(00.244*kW)\r\n"
        b"0-0:96.7.21(00004)\r\n!",
        None,
    )
    _, readings = parse_telegram(written)
    origins = {str(r.obis): r.scale_origin for r in readings}
    assert origins == {"1-0:1.8.1": "push", "1-0:1.7.0": "push", "0-0:96.7.21": None}
