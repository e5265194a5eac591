"""The security layer: ciphered xDLMS APDUs (general-glo/ded-ciphering and the glo-/ded- forms).

A push from a meter with security switched on arrives as **general-glo-ciphering**
(APDU tag ``0xDB`` = 219) or **general-ded-ciphering** (``0xDC`` = 220)::

    DB  08 <system title, 8 bytes>  <length> <SC> <frame counter, 4> <ciphertext> [<tag, 12>]

Both OCTET STRINGs (system title and ciphered content) carry an A-XDR length: one
byte below ``0x80``, else ``0x81 xx``, ``0x82 xx xx`` (``0x83``, ``0x84`` for
three and four length bytes).  The ciphered content is the security header
(security control byte *SC*, frame counter = invocation counter, 4 bytes
big-endian), the ciphertext and, when SC asks for authentication, a 12-byte GCM
authentication tag.

The short forms ``glo-…`` (XDLMS-APDU tags 33..56 and 200..207) and ``ded-…``
(65..88 and 208..215) carry only ``<length> <SC> <frame counter> <ciphertext> [<tag>]``;
the system title is known from the association, so the caller supplies it.

Security control byte: bits 0–3 security suite (0 and 1: AES-128-GCM, they differ
only in key agreement; 2: AES-256-GCM), bit 4 *A* authentication, bit 5 *E*
encryption, bit 6 key set (0 unicast, 1 broadcast), bit 7 compression (not
supported).  Seen on real meters: ``0x20`` (suite 0, E), ``0x21`` (suite 1, E;
TINETZ and the other KSM-West operators), ``0x30`` (suite 0, A+E).

Deciphering (IV = system title ‖ frame counter, 12 bytes):

* E only: AES-GCM without a tag, i.e. AES-CTR whose first counter block is
  IV ‖ ``00000002`` (GCM's counter for the first data block).  Many GCM
  libraries refuse a missing or short tag; CTR gives the same plaintext.
* A+E: AES-GCM with additional authenticated data SC ‖ AK (authentication key).
  Without the AK the ciphertext still deciphers (with CTR); only the tag stays
  unverified.
* A only: the plaintext travels in clear, followed by the tag over
  SC ‖ AK ‖ plaintext.

No function here keeps a key (a :class:`Decipherer` does, for the reader that owns
it), and no error message or ``repr`` contains key material.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cosem_reader._slots import frozen_constructor
from cosem_reader.axdr.apdu_tags import (
    CIPHERED_APDU_TAGS,
    GENERAL_CIPHERING,
    GENERAL_DED_CIPHERING,
    GENERAL_GLO_CIPHERING,
)
from cosem_reader.errors import ConfigError, SecurityError
from cosem_reader.security.ciphered_apdu import (
    _FRAME_COUNTER_LENGTH,
    AUTH_TAG_LENGTH,
    SYSTEM_TITLE_LENGTH,
    CipheredApdu,
    SecurityControl,
    _check_security_control,
    _encode_length,
    decode_ciphered_apdu,
    is_ciphered,
    looks_like_apdu,
    parse_ciphered_apdu,
)

__all__ = [
    "AUTH_TAG_LENGTH",
    "CIPHERED_APDU_TAGS",
    "SYSTEM_TITLE_LENGTH",
    "CipheredApdu",
    "Deciphered",
    "Decipherer",
    "SecurityControl",
    "decipher",
    "decode_ciphered_apdu",
    "encipher",
    "is_ciphered",
    "looks_like_apdu",
    "parse_ciphered_apdu",
    "parse_key",
]

logger = logging.getLogger(__name__)

@dataclass(frozen=True, slots=True)
class Deciphered:
    """The plaintext of a ciphered APDU and what became of its authentication tag.

    ``tag_verified``: ``True`` the tag matched, ``None`` the APDU carries no tag,
    ``False`` a tag is present but was not checked (no authentication key given).
    """

    plaintext: bytes
    tag_verified: bool | None


_make_deciphered = frozen_constructor(Deciphered)


def _check_key(key: bytes, control: SecurityControl, what: str) -> None:
    expected = control.key_length
    if len(key) != expected:
        suite = f" for security suite {control.suite}" if control.suite == 2 else ""
        raise SecurityError(
            f"the {what} must be {expected} bytes ({2 * expected} hex digits){suite}, "
            f"got {len(key)}"
        )


def _ctr(key: bytes, iv: bytes, data: bytes) -> bytes:
    # GCM without its tag is plain CTR starting at counter 2 (counter 1 masks the tag).
    context = Cipher(algorithms.AES(key), modes.CTR(iv + b"\x00\x00\x00\x02")).encryptor()
    return context.update(data) + context.finalize()


_IV_LENGTH = SYSTEM_TITLE_LENGTH + _FRAME_COUNTER_LENGTH


class Decipherer:
    """:func:`decipher` with one key pair, for a reader that deciphers push after push.

    It keeps the AES key schedule (an ``AESGCM`` of ``cryptography``) instead of
    building a CTR context per APDU, which costs more than deciphering a push: the
    key stream of GCM's counter blocks ``IV ‖ 00000002``, ``IV ‖ 00000003``, … is
    what AESGCM XORs onto the data it enciphers.  The result is :func:`decipher`'s,
    errors included.  It holds the keys for as long as it lives, like the reader
    that owns it; one instance is not for several threads at once.
    """

    __slots__ = ("_aes", "_aes_key", "auth_key", "key")

    def __init__(self, key: bytes, auth_key: bytes | None = None) -> None:
        self.key = key
        self.auth_key = auth_key
        self._aes: AESGCM | None = None
        self._aes_key = b""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(<{len(self.key)}-byte key>)"

    def decipher(self, ciphered: CipheredApdu) -> Deciphered:
        """Decipher ``ciphered`` as :func:`decipher` does with this key pair."""
        return _decipher(ciphered, self.key, self.auth_key, self._ctr, self._gcm)

    def _gcm(self, key: bytes, iv: bytes, aad: bytes, ciphertext: bytes, tag: bytes
             ) -> tuple[bytes, bool]:
        return _gcm_open(self._aesgcm(key), iv, aad, ciphertext, tag)

    def _ctr(self, key: bytes, iv: bytes, data: bytes) -> bytes:
        if len(iv) != _IV_LENGTH:
            return _ctr(key, iv, data)
        # GCM enciphers by XOR with the key stream of counters 2, 3, …, which depends on
        # key and IV alone: AESGCM's ciphertext of the data, without its tag, is the CTR
        # plaintext, in one call on the kept key schedule (a quarter of what an ECB pass costs).
        return self._aesgcm(key).encrypt(iv, data, None)[: len(data)]

    def _aesgcm(self, key: bytes) -> AESGCM:
        aes = self._aes
        if aes is None or self._aes_key != key:
            aes = self._aes = AESGCM(key)
            self._aes_key = key
        return aes


def _gcm_tag_matches(key: bytes, iv: bytes, aad: bytes, ciphertext: bytes, tag: bytes) -> bool:
    return _gcm_open(AESGCM(key), iv, aad, ciphertext, tag)[1]


def _gcm_open(aes: AESGCM, iv: bytes, aad: bytes, ciphertext: bytes, tag: bytes
              ) -> tuple[bytes, bool]:
    """The plaintext of GCM ``ciphertext`` and whether ``tag`` matches.

    AESGCM takes only whole 16-byte tags; DLMS sends the first 12 bytes of one.  Two
    AESGCM calls still cost a third of one streaming GCM context: GCM enciphers by XOR
    with a key stream that depends on key and IV alone, so enciphering the ciphertext
    gives the plaintext, and enciphering that plaintext gives the ciphertext back with its
    whole tag, whose first bytes must be ``tag``.  Nothing enciphered here is sent.
    """
    size = len(ciphertext)
    plaintext = aes.encrypt(iv, ciphertext, None)[:size]
    whole_tag = aes.encrypt(iv, plaintext, aad)[size:]
    if len(tag) < AUTH_TAG_LENGTH:
        return plaintext, False
    return plaintext, hmac.compare_digest(whole_tag[: len(tag)], tag)


def _gcm_with_key(key: bytes, iv: bytes, aad: bytes, ciphertext: bytes, tag: bytes
                  ) -> tuple[bytes, bool]:
    return _gcm_open(AESGCM(key), iv, aad, ciphertext, tag)


#: Sagemcom T210-D (Styria) and Luxembourg Smarty wrap a DSMR telegram ("/…!CRC") in GCM.
_DSMR_START = b"/"

_TAG_MISMATCH = (
    "authentication tag does not match: wrong encryption key or wrong authentication key"
)


def decipher(ciphered: CipheredApdu, key: bytes, auth_key: bytes | None = None) -> Deciphered:
    """Decipher a ciphered APDU with the encryption key, checking its tag with ``auth_key``.

    ``key`` is the (global unicast or dedicated) encryption key; it is needed only
    when SC has E set.  The tag is verified when SC has A set and ``auth_key`` is
    given; without ``auth_key`` the plaintext is still returned, with
    ``tag_verified=False``.  Whether the plaintext is a valid APDU is not judged
    here (see :func:`looks_like_apdu`).

    Raises :class:`SecurityError` for a key or authentication key of the wrong
    length and for a tag that does not match.
    """
    return _decipher(ciphered, key, auth_key, _ctr, _gcm_with_key)


def _decipher(
    ciphered: CipheredApdu,
    key: bytes,
    auth_key: bytes | None,
    ctr: Callable[[bytes, bytes, bytes], bytes],
    gcm: Callable[[bytes, bytes, bytes, bytes, bytes], tuple[bytes, bool]],
) -> Deciphered:
    control = _check_security_control(ciphered.security_control, None)
    checks_tag = control.authenticated and auth_key is not None
    if control.encrypted or checks_tag:
        _check_key(key, control, "key")
    if auth_key is not None and control.authenticated:
        _check_key(auth_key, control, "authentication key")
    iv = ciphered.initialization_vector
    sc = bytes([ciphered.security_control])
    tag = ciphered.auth_tag
    if control.encrypted and tag is not None and auth_key is not None:
        # Deciphered and checked by one GCM context: the same plaintext as CTR gives.
        plaintext, verified = gcm(key, iv, sc + auth_key, ciphered.ciphertext, tag)
        return _verified(plaintext, verified, control.encrypted)
    plaintext = ctr(key, iv, ciphered.ciphertext) if control.encrypted else ciphered.ciphertext
    if tag is None:
        return _make_deciphered(plaintext, None)
    if auth_key is None:
        logger.debug(
            "%s: authentication tag present, not verified (no authentication key)", ciphered.kind
        )
        return _make_deciphered(plaintext, False)
    # Authentication only: the whole plaintext is additional data, the GCM key is the EK.
    verified = _gcm_tag_matches(key, iv, sc + auth_key + plaintext, b"", tag)
    return _verified(plaintext, verified, control.encrypted)


def _verified(plaintext: bytes, verified: bool, encrypted: bool) -> Deciphered:
    """The deciphered APDU whose tag matched; else the error naming the likely wrong key."""
    if not verified:
        # A right encryption key still yields a plausible plaintext; that tells the two
        # keys apart, the one thing users most often cannot find out (which key is wrong).
        if not encrypted:
            hint = "check both keys against what the grid operator sent"
        elif looks_like_apdu(plaintext) or plaintext.startswith(_DSMR_START):
            hint = (
                "the encryption key gives a plausible plaintext, so the authentication key "
                "is the likely culprit"
            )
        else:
            hint = "the encryption key gives no plausible plaintext either, so check it first"
        raise SecurityError(_TAG_MISMATCH, hint=hint)
    return _make_deciphered(plaintext, True)


def encipher(  # noqa: PLR0917 - the signature other layers' test encoders call positionally
    plaintext: bytes,
    key: bytes,
    system_title: bytes,
    frame_counter: int,
    security_control: int = 0x20,
    auth_key: bytes | None = None,
    tag: int = GENERAL_GLO_CIPHERING,
) -> bytes:
    """Build a whole ciphered APDU around ``plaintext`` (the inverse of parse + decipher).

    ``tag`` 0xDB/0xDC gives general-glo/ded-ciphering with the system title in the
    APDU; any other ciphered tag gives the short form without it.  With SC bit 4
    (A) the 12-byte GCM tag is appended; ``auth_key`` is then required.
    """
    if tag not in CIPHERED_APDU_TAGS or tag == GENERAL_CIPHERING:
        raise SecurityError(f"tag 0x{tag:02X} is not a supported ciphered xDLMS APDU")
    control = _check_security_control(security_control, None)
    if len(system_title) != SYSTEM_TITLE_LENGTH:
        raise SecurityError(
            f"the system title is {len(system_title)} bytes, expected {SYSTEM_TITLE_LENGTH}"
        )
    if not 0 <= frame_counter <= 0xFFFFFFFF:
        raise SecurityError(f"the frame counter must fit 4 bytes, got {frame_counter}")
    if control.encrypted or control.authenticated:
        _check_key(key, control, "key")
    iv = bytes(system_title) + frame_counter.to_bytes(_FRAME_COUNTER_LENGTH, "big")
    sc = bytes([security_control])
    body = _ctr(key, iv, plaintext) if control.encrypted else bytes(plaintext)
    if control.authenticated:
        if auth_key is None:
            raise SecurityError(
                f"security control 0x{security_control:02X} asks for authentication, "
                "which needs the authentication key"
            )
        _check_key(auth_key, control, "authentication key")
        aad = sc + auth_key + (b"" if control.encrypted else bytes(plaintext))
        context = Cipher(algorithms.AES(key), modes.GCM(iv)).encryptor()
        context.authenticate_additional_data(aad)
        if control.encrypted:
            context.update(plaintext)
        context.finalize()
        body += context.tag[:AUTH_TAG_LENGTH]
    content = sc + iv[SYSTEM_TITLE_LENGTH:] + body
    head = bytes([tag])
    if tag in (GENERAL_GLO_CIPHERING, GENERAL_DED_CIPHERING):
        head += _encode_length(SYSTEM_TITLE_LENGTH) + bytes(system_title)
    return head + _encode_length(len(content)) + content


_KEY_SEPARATORS = frozenset(" \t:")
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def parse_key(text: str, what: str = "key") -> bytes:
    """A key typed as hex (spaces and colons allowed, any case) → 16 or 32 bytes.

    Raises :class:`ConfigError` naming what is wrong; the message never repeats
    the key.  Positions count characters of ``text`` from 1.
    """
    digits: list[str] = []
    stripped = text.strip()
    lead = len(text) - len(text.lstrip())
    for index, char in enumerate(stripped):
        if char in _KEY_SEPARATORS:
            continue
        if char not in _HEX_DIGITS:
            raise ConfigError(
                f"{what} contains a non-hex character at position {lead + index + 1}",
                hint="a key is 32 hex digits (0-9, A-F), optionally grouped with spaces or colons",
            )
        digits.append(char)
    count = len(digits)
    if count == 0:
        raise ConfigError(f"{what} is empty", hint="a key is 32 hex digits (0-9, A-F)")
    if count not in (32, 64):
        raise ConfigError(
            f"{what} must be 32 hex digits (64 for AES-256), got {count}",
            hint="copy the whole key as the grid operator sent it",
        )
    return bytes.fromhex("".join(digits))
