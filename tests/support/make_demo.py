"""Write the bundled demo capture: Kaifa MA309M-style pushes made by our own encoder.

``make demo-capture`` runs it.  The capture is demo data, labelled so everywhere:
the system title spells ``KFMDEMO``, the meter number ``1KFMDEMO000001``, and the
key is the published demo key of this project (in the Makefile), not any meter's.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

from .encoder import ciphered_push, data_notification, kaifa_ma309m_body, kaifa_series, mbus_push

DEMO_KEY = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
DEMO_SYSTEM_TITLE = b"KFMDEMO\x01"
DEMO_PUSHES = 3


def demo_capture() -> bytes:
    """Three pushes, five seconds apart, as they arrive on the M-Bus line."""
    wire = b""
    start = datetime(2026, 1, 15, 12, 0, 0)
    for index, (moment, registers) in enumerate(kaifa_series(start, DEMO_PUSHES)):
        body = kaifa_ma309m_body(moment, registers, "1KFMDEMO000001", "KFMDEMO000000001")
        plaintext = data_notification(body, invoke_id=0x2000 + index)
        apdu = ciphered_push(plaintext, DEMO_KEY, DEMO_SYSTEM_TITLE, 0x1000 + index)
        wire += mbus_push(apdu)
    return wire


def main() -> None:
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "demo.bin")
    target.write_bytes(demo_capture())
    print(f"wrote {target} ({target.stat().st_size} bytes, {DEMO_PUSHES} pushes)")


if __name__ == "__main__":
    main()
