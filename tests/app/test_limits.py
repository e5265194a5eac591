"""``debug.stop_after_telegrams``/``_apdus``: exactly N, however the bytes are chunked."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cosem_reader.app.config import DebugSettings, DecodingSettings, Settings
from cosem_reader.app.limits import StopLimits
from cosem_reader.output.mqtt.settings import MqttSettings
from cosem_reader.pipeline.decoder import StreamDecoder
from tests.support.daemon import KEY, push

#: Five pushes of two telegrams (one APDU) each.
CAPTURE = b"".join(push(index) for index in range(5))


@settings(max_examples=40, deadline=None)
@given(
    limit=st.integers(1, 12),
    kind=st.sampled_from(["telegrams", "apdus"]),
    sizes=st.lists(st.integers(1, 4096), min_size=1, max_size=8),
)
def test_the_limit_is_met_exactly(limit: int, kind: str, sizes: list[int]) -> None:
    debug = DebugSettings(**{f"stop_after_{kind}": limit})  # type: ignore[arg-type]
    stops = StopLimits(Settings((), DecodingSettings(), debug, MqttSettings()), "")
    decoder = StreamDecoder(key=KEY, layer="mbus")
    fed = bytearray()
    readings = 0
    at, index = 0, 0
    while at < len(CAPTURE):
        chunk = CAPTURE[at:at + sizes[index % len(sizes)]]
        at, index = at + len(chunk), index + 1
        results, read = stops.feed(decoder, chunk, fed.extend)
        assert read == chunk[: len(read)]
        readings += len(results)
        counters = decoder.counters
        if stops.reached(at, counters.frames, counters.apdus, done=False):
            break
    counted = decoder.counters.frames if kind == "telegrams" else decoder.counters.apdus
    assert counted == min(limit, 10 if kind == "telegrams" else 5)
    assert readings == decoder.counters.apdus
    assert bytes(fed) == CAPTURE[: len(fed)]
