"""The per-layer debug logs (``--trace``, ``[debug]``), each behind its switch."""

from __future__ import annotations

import dataclasses
import importlib
import logging
from datetime import datetime

from cosem_reader.app.config import DebugSettings, Settings
from cosem_reader.cosem.obis import format_name
from cosem_reader.cosem.readings import Notification
from cosem_reader.errors import CosemReaderError
from cosem_reader.link import hdlc, mbus
from cosem_reader.output.jsonout import ciphered_header, dumps, notification_to_dict
from cosem_reader.security.ciphering import is_ciphered, parse_ciphered_apdu

__all__ = ["Tracer", "hdlc_wire_bytes", "mbus_wire_bytes"]

log = logging.getLogger(__name__)
trace = logging.getLogger("cosem_reader.trace")


def mbus_wire_bytes(frame: mbus.LongFrame) -> bytes:
    """The whole ``68 L L 68 C A CI … CS 16`` frame as it came: the reader accepted it,
    so its checksum was the byte sum of C, A, CI and the user data, and its L byte the
    length modulo 256 (as the Sagemcom T210-D writes it, EN 13757-2 otherwise)."""
    body = bytes((frame.control, frame.address, frame.control_information)) + frame.user_data
    length = len(body) & 0xFF
    return bytes((0x68, length, length, 0x68)) + body + bytes((sum(body) & 0xFF, 0x16))


def hdlc_wire_bytes(frame: hdlc.HdlcFrame) -> bytes:
    """The whole ``7E A… … FCS 7E`` frame as it came (IEC 62056-46 frame format type 3):
    the reader accepted it, so its HCS and FCS were the CRCs of what precedes them."""
    information = frame.information
    header_length = 2 + len(frame.destination_address) + len(frame.source_address) + 1
    length = header_length + 2 + (len(information) + 2 if information else 0)
    first = 0xA0 | (0x08 if frame.segmented else 0) | (length >> 8)
    header = (bytes((first, length & 0xFF)) + frame.destination_address
              + frame.source_address + bytes((frame.control,)))
    body = header + hdlc.crc16_x25(header).to_bytes(2, "little")
    if information:
        body += information
        body += hdlc.crc16_x25(body).to_bytes(2, "little")
    return b"\x7e" + body + b"\x7e"


class Tracer:
    """The per-layer debug logs of smart-meter-mbus-dlms, each behind its switch."""

    def __init__(self, debug: DebugSettings, label: str, settings: Settings) -> None:
        self.debug = debug
        self.label = label
        self.settings = settings
        self._serial = bytearray()
        #: Whether telegrams and link APDUs are logged at all (else the decoder need not
        #: call :meth:`on_frame` and :meth:`on_link_apdu`).
        self.frames_wanted = (
            debug.log_telegram_raw or debug.log_telegram_json or debug.log_apdu_raw
            or debug.log_apdu_json or debug.log_apdu_encrypted_hex
        )
        self._xml_missing = False
        self._notifications_wanted = (
            debug.log_cosem_json or debug.log_cosem_xml or debug.log_obis_json
            or debug.log_obis_plain
        )

    def on_bytes(self, chunk: bytes) -> None:
        debug = self.debug
        if debug.log_serial:
            self._serial += chunk
            if len(self._serial) >= max(1, debug.log_serial_min_bytes):
                trace.info("%sserial: %d bytes: %s", self.label, len(self._serial),
                           self._serial.hex(" ").upper())
                self._serial.clear()

    def on_frame(self, frame: mbus.LongFrame | hdlc.HdlcFrame) -> None:
        if self.frames_wanted:
            self._telegram(frame)

    def on_link_apdu(self, apdu: bytes) -> None:
        if self.frames_wanted:
            self._apdu(apdu)

    def _telegram(self, frame: mbus.LongFrame | hdlc.HdlcFrame) -> None:
        fields = dataclasses.asdict(frame)
        if self.debug.log_telegram_raw:
            if isinstance(frame, mbus.LongFrame):
                payload = mbus_wire_bytes(frame)
            else:
                payload = hdlc_wire_bytes(frame)
            trace.info("%stelegram: %s", self.label, payload.hex(" ").upper())
        if self.debug.log_telegram_json:
            trace.info("%stelegram: %s", self.label, dumps(fields))

    def _apdu(self, apdu: bytes) -> None:
        debug = self.debug
        if debug.log_apdu_raw:
            trace.info("%sAPDU: %s", self.label, apdu.hex(" ").upper())
        if not (debug.log_apdu_json or debug.log_apdu_encrypted_hex) or not is_ciphered(apdu):
            return
        try:
            ciphered = parse_ciphered_apdu(apdu)
        except CosemReaderError as error:
            trace.info("%sAPDU: security header unreadable: %s", self.label, error)
            return
        if debug.log_apdu_json:
            trace.info("%sAPDU: %s", self.label, dumps(ciphered_header(ciphered)))
        if debug.log_apdu_encrypted_hex:
            trace.info("%sAPDU ciphertext: %s", self.label, ciphered.ciphertext.hex(" ").upper())

    def on_plaintext(self, apdu: bytes) -> None:
        if self.debug.log_apdu_decrypted_hex:
            trace.info("%sAPDU plaintext: %s", self.label, apdu.hex(" ").upper())

    def on_notification(self, notification: Notification) -> None:
        if not self._notifications_wanted:
            return
        debug = self.debug
        decoding = self.settings.decoding
        if debug.log_cosem_json:
            trace.info("%sCOSEM: %s", self.label, dumps(notification.tree))
        if debug.log_cosem_xml:
            self._xml(notification)
        if debug.log_obis_json:
            body = notification_to_dict(notification, decoding.language, decoding.name_format,
                                        decoding.name_delimiters)
            trace.info("%sOBIS: %s", self.label, dumps(body))
        if debug.log_obis_plain:
            for reading in notification.readings:
                name = (
                    format_name(reading.obis, decoding.language, decoding.name_format,
                                decoding.name_delimiters)
                    if reading.obis is not None else ""
                )
                value = dumps(reading.value).strip('"')
                unit = f" {reading.unit}" if reading.unit else ""
                trace.info("%sOBIS %s %s: %s%s", self.label, reading.key, name, value, unit)

    def timings(self, notification: Notification, first_byte_at: float, receive: float,
                decode: float, publish: float) -> None:
        """The stages' times, and the wall-clock time of the push's first byte to the
        millisecond beside the meter's time stamp: how far the meter's clock is off
        (the lag smart-meter-mbus-dlms's README measures)."""
        first = datetime.fromtimestamp(first_byte_at).astimezone()
        meter_time = notification.timestamp.isoformat() if notification.timestamp else "none"
        trace.info(
            "%stimings: first byte at %s, meter time %s, receive %.3f s, decode %.2f ms,"
            " publish %.2f ms", self.label, first.isoformat(timespec="milliseconds"),
            meter_time, receive, decode * 1000, publish * 1000,
        )

    def _xml(self, notification: Notification) -> None:
        try:
            # Imported by name: the XML writer is optional in this build.
            writer = importlib.import_module("cosem_reader.output.gurux_xml")
        except ImportError:
            if not self._xml_missing:
                self._xml_missing = True
                log.warning("log_cosem_xml: the Gurux XML writer is not available in this build")
            return
        trace.info("%sXML:\n%s", self.label, writer.apdu_to_xml(notification.tree))
