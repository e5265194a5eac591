"""MQTT output: one publisher per meter, paho-mqtt 2.x, a broker restart loses no reading.

Topics of a meter (``<base>`` is ``topic_base``, ``<meter>`` the meter id):

``<base>/<meter>/state``
    one JSON object per reading (:func:`cosem_reader.output.jsonout.notification_to_dict`):
    ``timestamp``, ``system_title``, ``values`` keyed by OBIS code, each with ``value``,
    ``unit`` and ``name``; date-times in ``date_time_format``.
``<base>/<meter>/<identifier>``
    one plain value per reading and OBIS code (``12937``, or ``12937 Wh`` with
    ``include_unit``): what ioBroker and openHAB map one to one onto states.  The
    identifier is the OBIS code with ``:``, ``.`` and ``*`` turned into ``_``
    (``1-0_1_8_0``), or the reading's name with ``topic_identifier = "name"``.
``<base>/<meter>/availability``
    retained ``online``/``offline``; ``offline`` is the connection's last will, and is
    also sent while the meter is silent or the key is wrong (:meth:`MqttPublisher.set_available`).
``<discovery_prefix>/sensor/<meter>/<obis slug>/config``
    Home Assistant discovery (:mod:`cosem_reader.output.homeassistant`), retained, sent before
    the second of two consecutive readings of one layout that carry a new OBIS code (at
    most :data:`~cosem_reader.output.homeassistant.MAX_ENTITIES` per meter), again after every
    (re)connect and whenever Home Assistant announces ``online`` on
    ``<discovery_prefix>/status``.

Every topic level built from meter data passes :func:`sanitize_level`: umlauts spelt
out (when configured), the invalid-character regex applied, and whatever that leaves,
no ``+``, ``#``, ``/``, NUL or control character and no empty level, so a meter (or a
name template) cannot inject a wildcard or an extra level.

Delivery.  Readings go out at QoS 1 (by default).  The publisher keeps its own ordered
queue of messages (:class:`~cosem_reader.output.outbox.Outbox`); a message leaves it only when
the broker acknowledges it (PUBACK).  Messages are handed to paho only while connected,
at most :data:`~cosem_reader.output.mqtt.delivery.WINDOW` at a time; after a reconnect
paho's own copies are dropped and every unacknowledged message is sent again from the
queue, in the original order, so a broker restart loses nothing and reorders nothing.
With ``spool`` the readings at risk are also on disk (:mod:`cosem_reader.output.spool`).
While the broker is unreachable the queue holds up to ``queue_size`` readings (all messages of
one reading count as one); beyond that the oldest reading is dropped, with one warning
per overflow episode.  paho reconnects with back-off
(``reconnect_min_delay`` … ``reconnect_max_delay``); an unreachable broker at start is
retried the same way.

Several meters: each :class:`MqttPublisher` is one meter with its own connection,
because MQTT allows one last will per connection and each meter's availability topic
needs its own.  The default client id therefore carries the meter id.

The package in units: :mod:`.settings` (``[mqtt]`` and topic levels), :mod:`.payloads`
(what a reading publishes), :mod:`.schedules` (which readings), :mod:`.discovery` (Home
Assistant bookkeeping), :mod:`.delivery` (the queue and the spool), :mod:`.paho_setup`,
:mod:`.paho_client` and :mod:`.connection` (paho), :mod:`.client` (:class:`MqttPublisher`).
"""

from cosem_reader.output.mqtt.client import MqttPublisher
from cosem_reader.output.mqtt.delivery import WINDOW
from cosem_reader.output.mqtt.payloads import (
    format_date_time,
    meter_id_from,
    reading_identifier,
    state_payload,
    value_payload,
)
from cosem_reader.output.mqtt.settings import (
    DATE_TIME_FORMATS,
    MqttSettings,
    parse_mqtt_url,
    sanitize_level,
)

__all__ = [
    "DATE_TIME_FORMATS",
    "WINDOW",
    "MqttPublisher",
    "MqttSettings",
    "format_date_time",
    "meter_id_from",
    "parse_mqtt_url",
    "reading_identifier",
    "sanitize_level",
    "state_payload",
    "value_payload",
]
