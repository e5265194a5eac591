"""paho's ``Client`` with changes of plumbing: a buffered socket, PUBACKs read at once.

paho spends some 20 us of Python on each QoS 1 message, much of it reading the PUBACK
(three recv() calls, a packet state machine, a ``ReasonCode`` and a ``Properties``
object) and in system calls, each a hand-over of the GIL to the thread that decodes.
:class:`Client` keeps paho's behaviour and changes where it is spent:

- its TCP socket is a :class:`BufferedSocket`: one recv() for what the kernel holds,
  one send() for a batch of packets;
- a 2-byte PUBACK (success, no properties: what brokers send for a message taken) at
  the head of that buffer is taken whole and handed to paho's ``_do_on_publish`` as paho
  would, with the one ``ReasonCode`` and ``Properties`` such a PUBACK decodes to;
- ``after_loop`` runs at the end of each turn of paho's loop, on its thread: where the
  publisher hands over a batch for the PUBACKs of the turn.

It overrides paho 2.x methods that are not public (``_create_socket``,
``_packet_read``, ``_handle_pubackcomp``); tests hold it to paho's own handling, and a
paho that stops calling them leaves a client that is slower and otherwise the same.
TLS and websocket connections keep paho's socket.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

__all__ = ["BUFFER", "BufferedSocket", "Client"]

#: A PUBACK's fixed header with a remaining length of 2: message id, nothing else.
_PUBACK = b"\x40\x02"

#: Bytes one recv() asks the kernel for, and the most a send() keeps back.
BUFFER = 65536


class BufferedSocket:
    """paho's TCP socket, read and written through a buffer.

    paho reads a packet with three recv() calls (command byte, length, body) and writes
    each packet with its own send(): four system calls and a wake-up of the broker per
    QoS 1 message.  Here one recv() takes what the kernel holds and the packets are
    served from memory; :meth:`pending` tells paho's loop that bytes are waiting (as it
    asks an SSL socket), so it reads them without waiting in select().  A send() while
    paho has further packets queued (``more()``, paho's ``want_write``) is kept, up to
    :data:`BUFFER` bytes; the last packet of the batch leaves with what was kept, in one
    send().  What paho cannot learn from a short write (kept bytes that did not all
    leave) it learns as ``BlockingIOError``: the packet stays queued in paho, after the
    kept bytes, and paho waits until the socket is writable.  Used by paho's network
    thread alone.
    """

    __slots__ = ("_drained", "_more", "_pos", "_received", "_sock", "_unsent")

    def __init__(self, sock: socket.socket, more: Callable[[], bool]) -> None:
        self._sock = sock
        self._more = more
        self._received = b""
        self._pos = 0
        self._drained = False  # the last recv() took all the kernel held
        self._unsent = bytearray()

    def pending(self) -> int:
        """Bytes received and not yet read by paho."""
        return len(self._received) - self._pos

    def puback(self) -> int | None:
        """The message id of a 2-byte PUBACK next in the buffer (taken), else None."""
        received, pos = self._received, self._pos
        if received[pos : pos + 2] != _PUBACK or len(received) < pos + 4:
            return None
        self._pos = pos + 4
        return received[pos + 2] << 8 | received[pos + 3]

    def recv(self, size: int) -> bytes:
        """Up to ``size`` bytes: from the buffer, else from one recv() that fills it."""
        if self._pos < len(self._received):
            chunk = self._received[self._pos : self._pos + size]
            self._pos += len(chunk)
            return chunk
        if self._drained:
            # paho reads until told there is nothing more; that the kernel held no more
            # is known already, and select() in paho's next turn sees what came since.
            self._drained = False
            raise BlockingIOError
        data = self._sock.recv(max(size, BUFFER))
        self._drained = 0 < len(data) < max(size, BUFFER)
        if len(data) <= size:
            return data
        self._received, self._pos = data, size
        return data[:size]

    def send(self, data: bytes | bytearray) -> int:
        """Keep ``data`` while paho has more to send, else send it after what was kept."""
        kept = self._unsent
        if not kept and not self._more():
            return self._sock.send(data)
        before = len(kept)
        kept += data
        if len(kept) <= BUFFER and self._more():
            return len(data)
        try:
            sent = self._sock.send(kept)
        except BlockingIOError:
            del kept[before:]
            raise
        if sent > before:
            kept.clear()
            return sent - before
        # Not even the kept bytes all left: nothing of ``data`` did.
        del kept[before:]
        del kept[:sent]
        raise BlockingIOError

    def close(self) -> None:
        """Send what is kept (paho closes right after a DISCONNECT), then close."""
        if self._unsent:
            with contextlib.suppress(OSError):
                self._sock.send(self._unsent)
        self._sock.close()

    def fileno(self) -> int:
        return self._sock.fileno()

    def setblocking(self, flag: bool) -> None:
        self._sock.setblocking(flag)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


#: What paho decodes from every 2-byte PUBACK, made once: paho builds a ``Properties``
#: object (some 10 us) per message.
_SUCCESS = ReasonCode(PacketTypes.PUBACK)
_NO_PROPERTIES = Properties(PacketTypes.PUBACK)  # type: ignore[no-untyped-call]


class Client(paho.Client):
    """paho's client, its socket buffered, its 2-byte PUBACKs read at once (see above)."""

    after_loop: Callable[[], None] | None = None

    def _create_socket(self) -> Any:
        sock = super()._create_socket()
        if type(sock) is socket.socket:
            return BufferedSocket(sock, self.want_write)
        return sock

    def _packet_read(self) -> MQTTErrorCode:
        sock = self._sock
        if type(sock) is BufferedSocket and self._in_packet["command"] == 0:
            mid = sock.puback()
            if mid is not None:
                with self._msgtime_mutex:
                    self._last_bytes_received = paho.time_func()
                return self._acknowledge(mid)
        return super()._packet_read()

    def _handle_pubackcomp(self, cmd: Any) -> MQTTErrorCode:
        packet = self._in_packet["packet"]
        if cmd != "PUBACK" or len(packet) != 2:
            return super()._handle_pubackcomp(cmd)
        return self._acknowledge(packet[0] << 8 | packet[1])

    def _acknowledge(self, mid: int) -> MQTTErrorCode:
        """paho's own steps for a 2-byte PUBACK, without decoding the same answer anew."""
        self._easy_log(paho.MQTT_LOG_DEBUG, "Received PUBACK (Mid: %d)", mid)
        with self._out_message_mutex:
            if mid in self._out_messages:
                return self._do_on_publish(mid, _SUCCESS, _NO_PROPERTIES)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def loop_misc(self) -> MQTTErrorCode:
        rc = super().loop_misc()
        if self.after_loop is not None:
            # This thread is awake and reads want_write() before it waits again: a
            # publish() of its own need not wake it (a byte on paho's socket pair and a
            # hand-over of the GIL per message).
            wake, self._sockpairW = self._sockpairW, None
            try:
                self.after_loop()
            finally:
                self._sockpairW = wake
        return rc
