"""The security header of a ciphered xDLMS APDU: which form, the system title, the
security control byte, the frame counter, the ciphertext and the tag (Green Book
9.2.7.2; the tags from the generated XDLMS-APDU CHOICE).  Nothing here needs a key;
:mod:`cosem_reader.security.ciphering` deciphers what this splits.
"""

from __future__ import annotations

from dataclasses import dataclass

from cosem_reader._slots import frozen_constructor
from cosem_reader.axdr.apdu_tags import (
    CIPHERED_APDU_TAGS,
    GENERAL_CIPHERING,
    GENERAL_DED_CIPHERING,
    GENERAL_GLO_CIPHERING,
    PLAIN_APDU_TAGS,
)
from cosem_reader.axdr.schema import decode_length
from cosem_reader.errors import AxdrError, SecurityError

__all__ = [
    "AUTH_TAG_LENGTH",
    "SYSTEM_TITLE_LENGTH",
    "CipheredApdu",
    "SecurityControl",
    "decode_ciphered_apdu",
    "is_ciphered",
    "looks_like_apdu",
    "parse_ciphered_apdu",
]

#: Length of the GCM authentication tag DLMS uses in every security suite.
AUTH_TAG_LENGTH = 12
#: Length of a DLMS system title (3-letter FLAG manufacturer id + 5 bytes).
SYSTEM_TITLE_LENGTH = 8
_FRAME_COUNTER_LENGTH = 4
_HEADER_LENGTH = 1 + _FRAME_COUNTER_LENGTH

_SUPPORTED_SUITES = (0, 1, 2)


@dataclass(frozen=True, slots=True)
class SecurityControl:
    """The security control byte (SC) of a security header, bit by bit."""

    #: Security suite id (bits 0–3): 0 and 1 AES-128-GCM, 2 AES-256-GCM.
    suite: int
    #: Bit 4 (A): a 12-byte GCM authentication tag follows the ciphertext.
    authenticated: bool
    #: Bit 5 (E): the information is enciphered.
    encrypted: bool
    #: Bit 6: the broadcast key set (``False``: the unicast key, as in every push seen).
    broadcast_key: bool
    #: Bit 7: the plaintext was compressed before ciphering (not supported).
    compressed: bool

    @classmethod
    def from_byte(cls, byte: int) -> SecurityControl:
        """Split a security control byte into its fields."""
        if not 0 <= byte <= 0xFF:
            raise ValueError(f"a security control byte is 0..255, got {byte}")
        return cls(
            suite=byte & 0x0F,
            authenticated=bool(byte & 0x10),
            encrypted=bool(byte & 0x20),
            broadcast_key=bool(byte & 0x40),
            compressed=bool(byte & 0x80),
        )

    def to_byte(self) -> int:
        """The security control byte these fields describe."""
        return (
            (self.suite & 0x0F)
            | (0x10 if self.authenticated else 0)
            | (0x20 if self.encrypted else 0)
            | (0x40 if self.broadcast_key else 0)
            | (0x80 if self.compressed else 0)
        )

    @property
    def key_length(self) -> int:
        """Bytes of the encryption and authentication keys: 32 for suite 2, else 16."""
        return 32 if self.suite == 2 else 16


@dataclass(frozen=True, slots=True)
class CipheredApdu:
    """A ciphered xDLMS APDU split into its security header and ciphered parts.

    ``system_title`` is the one the APDU carries (general-glo/ded-ciphering) or the
    one the caller supplied for a short form.  ``auth_tag`` is the 12-byte GCM tag
    when SC bit 4 is set, else ``None``.  For SC without E, ``ciphertext`` holds the
    plaintext as sent.
    """

    tag: int
    system_title: bytes | None
    security_control: int
    frame_counter: int
    ciphertext: bytes
    auth_tag: bytes | None

    @property
    def security(self) -> SecurityControl:
        """The security control byte, bit by bit."""
        return SecurityControl.from_byte(self.security_control)

    @property
    def kind(self) -> str:
        """The XDLMS-APDU alternative name of the tag, e.g. ``general-glo-ciphering``."""
        return CIPHERED_APDU_TAGS.get(self.tag, f"tag-{self.tag}")

    @property
    def initialization_vector(self) -> bytes:
        """IV of AES-GCM: system title ‖ frame counter (12 bytes)."""
        if self.system_title is None:
            raise SecurityError(
                f"{self.kind} has no system title, so the IV is unknown",
                hint="pass the meter's system title (8 bytes) when parsing the APDU",
            )
        return self.system_title + self.frame_counter.to_bytes(_FRAME_COUNTER_LENGTH, "big")


# One per push: built through the slots (see cosem_reader._slots).
_make_ciphered_apdu = frozen_constructor(CipheredApdu)


def is_ciphered(apdu: bytes) -> bool:
    """Whether the APDU's first byte is the tag of a ciphered xDLMS APDU."""
    return len(apdu) > 0 and apdu[0] in CIPHERED_APDU_TAGS


def looks_like_apdu(plaintext: bytes) -> bool:
    """Cheap first check of a plaintext: does it start with a known xDLMS APDU tag?

    A wrong key gives random bytes, whose first byte is one of these few tags only
    now and then; the A-XDR decoder makes the real judgement.
    """
    return len(plaintext) > 0 and plaintext[0] in PLAIN_APDU_TAGS


def _bytes(count: int) -> str:
    return "1 byte" if count == 1 else f"{count} bytes"


def _decode_length(buf: bytes, pos: int, what: str) -> tuple[int, int]:
    """The A-XDR length of the ``what`` at ``pos``: the value and the position after it."""
    try:
        return decode_length(buf, pos)
    except AxdrError as error:
        raise SecurityError(
            f"length of the {what}: {error.message}",
            offset=pos,
            hint="the capture is incomplete or the framing cut the APDU short",
        ) from None


def _encode_length(length: int) -> bytes:
    """The shortest A-XDR length form of ``length``."""
    if length < 0x80:
        return bytes([length])
    size = (length.bit_length() + 7) // 8
    if size > 4:
        raise SecurityError(f"a length of {length} bytes does not fit an A-XDR length")
    return bytes([0x80 | size]) + length.to_bytes(size, "big")


#: Every security control byte split into its fields, once: each push needs one twice.
_SECURITY_CONTROLS: tuple[SecurityControl, ...] = tuple(
    SecurityControl.from_byte(byte) for byte in range(256)
)


def _check_security_control(sc: int, offset: int | None) -> SecurityControl:
    control = _SECURITY_CONTROLS[sc] if 0 <= sc <= 0xFF else SecurityControl.from_byte(sc)
    if control.compressed:
        raise SecurityError(
            f"security control 0x{sc:02X} asks for compression, which is not supported",
            offset=offset,
        )
    if control.suite not in _SUPPORTED_SUITES:
        raise SecurityError(
            f"security control 0x{sc:02X} names security suite {control.suite}; "
            "only suites 0, 1 and 2 are known",
            offset=offset,
            hint="the APDU is probably not a ciphered APDU or is cut at the wrong place",
        )
    return control


def decode_ciphered_apdu(
    buf: bytes, pos: int = 0, system_title: bytes | None = None
) -> tuple[CipheredApdu, int]:
    """Split the ciphered APDU starting at ``buf[pos]``; return it and the position after it.

    Bytes after the ciphered content are left alone: the caller decides whether
    they matter.  ``system_title`` is needed for the short forms ``glo-…`` and
    ``ded-…``; the general forms carry their own and ignore it.  Error offsets
    count from the start of ``buf``.
    """
    if pos >= len(buf):
        raise SecurityError("the APDU is empty", offset=pos)
    tag = buf[pos]
    name = CIPHERED_APDU_TAGS.get(tag)
    if name is None:
        raise SecurityError(f"tag 0x{tag:02X} is not a ciphered xDLMS APDU", offset=pos)
    if tag == GENERAL_CIPHERING:
        raise SecurityError(
            "general-ciphering APDUs (tag 0xDD) are not supported",
            offset=pos,
            hint="only general-glo-ciphering, general-ded-ciphering and the glo-/ded- forms are",
        )
    if tag in (GENERAL_GLO_CIPHERING, GENERAL_DED_CIPHERING):
        title, here = _carried_system_title(buf, pos + 1)
    else:
        title, here = _given_system_title(name, system_title, pos), pos + 1
    return _ciphered_content(buf, here, tag, title)


def _carried_system_title(buf: bytes, here: int) -> tuple[bytes, int]:
    """The system title a general-glo/ded-ciphering APDU carries at ``here``."""
    title_length, here = _decode_length(buf, here, "system title")
    if title_length != SYSTEM_TITLE_LENGTH:
        raise SecurityError(
            f"the system title is {title_length} bytes, expected {SYSTEM_TITLE_LENGTH}",
            offset=here - 1,
            hint="the APDU is probably cut at the wrong place",
        )
    if here + title_length > len(buf):
        raise SecurityError(
            f"the APDU ends inside the system title: {len(buf) - here} of "
            f"{title_length} bytes follow",
            offset=here,
            hint="the capture is incomplete or the framing cut the APDU short",
        )
    return bytes(buf[here : here + title_length]), here + title_length


def _given_system_title(name: str, system_title: bytes | None, pos: int) -> bytes:
    """The system title the caller gives for a short glo-/ded- form, which carries none."""
    if system_title is None:
        raise SecurityError(
            f"{name} carries no system title",
            offset=pos,
            hint="pass the meter's system title (8 bytes, as in its "
            "general-glo-ciphering APDUs or the association)",
        )
    if len(system_title) != SYSTEM_TITLE_LENGTH:
        raise SecurityError(
            f"the system title given for {name} is {len(system_title)} bytes, "
            f"expected {SYSTEM_TITLE_LENGTH}"
        )
    return bytes(system_title)


def _ciphered_content(buf: bytes, here: int, tag: int, title: bytes) -> tuple[CipheredApdu, int]:
    """The ciphered content at ``here``: its length, security header, ciphertext and tag."""
    length_at = here
    length, here = _decode_length(buf, here, "ciphered content")
    available = len(buf) - here
    if length > available:
        raise SecurityError(
            f"ciphered content says {length} bytes but only {available} follow",
            offset=length_at,
            hint="the capture is incomplete or the framing cut the APDU short",
        )
    if length < _HEADER_LENGTH:
        raise SecurityError(
            f"ciphered content of {length} bytes is too short for the security "
            f"control byte and frame counter ({_HEADER_LENGTH} bytes)",
            offset=length_at,
        )
    end = here + length
    sc = buf[here]
    control = _check_security_control(sc, here)
    frame_counter = int.from_bytes(buf[here + 1 : here + _HEADER_LENGTH], "big")
    body_start = here + _HEADER_LENGTH
    auth_tag: bytes | None = None
    body_end = end
    if control.authenticated:
        if length < _HEADER_LENGTH + AUTH_TAG_LENGTH:
            raise SecurityError(
                f"ciphered content of {length} bytes is too short for the "
                f"{AUTH_TAG_LENGTH}-byte authentication tag that security control "
                f"0x{sc:02X} announces",
                offset=length_at,
            )
        body_end = end - AUTH_TAG_LENGTH
        auth_tag = bytes(buf[body_end:end])
    apdu = _make_ciphered_apdu(
        tag, title, sc, frame_counter, bytes(buf[body_start:body_end]), auth_tag
    )
    return apdu, end


def parse_ciphered_apdu(apdu: bytes, system_title: bytes | None = None) -> CipheredApdu:
    """Split a whole ciphered APDU into its security header and ciphered parts.

    Raises :class:`SecurityError` (with the byte offset) for a truncated header, a
    length that runs past the APDU or leaves bytes after it, an unsupported
    security control byte (compression, unknown suite), and a short form
    (``glo-…``/``ded-…``) without ``system_title``.
    """
    ciphered, end = decode_ciphered_apdu(apdu, 0, system_title)
    if end != len(apdu):
        raise SecurityError(
            f"{_bytes(len(apdu) - end)} left over after the ciphered content "
            f"of the {ciphered.kind}",
            offset=end,
            hint="the framing joined more than one APDU, or the length field is wrong; "
            "decode_ciphered_apdu() ignores such bytes",
        )
    return ciphered
