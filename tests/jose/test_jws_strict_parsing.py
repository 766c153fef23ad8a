"""Security profile rules 1-4 and 10 (and catalogue rows D1-D9): size, shape, canonical
base64url and strict JSON, on otherwise correctly signed tokens, so that only the property
under test is wrong."""

from __future__ import annotations

import pytest
from forge import b64, forbid_decoding, forge, segment, split

from tokenward import Key, jws
from tokenward.errors import InvalidToken, MalformedToken, TokenTooLarge
from tokenward.jose import decode_jwt
from tokenward.jose._b64 import b64url_decode, b64url_encode

HEADER = {"alg": "HS256", "kid": "HS256", "typ": "at+jwt"}
#: the base64url alphabet (RFC 4648 sec. 5)
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@pytest.fixture
def key(keys: dict[str, Key]) -> Key:
    return keys["HS256"]


def _claims_token(key: Key, payload: object) -> str:
    return forge(HEADER, payload, key)


# --- rule 1: size before anything (D8, D9) --- #


def test_token_over_max_bytes_is_too_large_before_parsing(key: Key) -> None:
    token = jws.sign(b"x" * 9000, key)
    with pytest.raises(TokenTooLarge):
        jws.verify(token, key)
    assert jws.verify(token, key, max_bytes=len(token)).payload == b"x" * 9000
    with pytest.raises(TokenTooLarge):
        jws.verify(token, key, max_bytes=len(token) - 1)


def test_one_megabyte_of_garbage_is_rejected_before_decoding(
    key: Key, monkeypatch: pytest.MonkeyPatch
) -> None:
    forbid_decoding(monkeypatch)  # the size cap comes first (profile rule 1, D8/D9)
    for junk in ("." * 1_000_000, "a" * 1_000_000, b"\xff" * 1_000_000):
        with pytest.raises(TokenTooLarge):
            jws.verify(junk, key)


def test_8kib_of_dots_is_malformed(key: Key) -> None:
    with pytest.raises(MalformedToken):
        jws.verify("." * 8192, key)


# --- rule 2: shape (C6, C7, D2, D8) --- #


@pytest.mark.parametrize("segments", [1, 2, 4, 5])
def test_wrong_number_of_segments_is_malformed(key: Key, segments: int) -> None:
    parts = split(jws.sign(b"x", key))
    token = ".".join((list(parts) * 2)[:segments])
    with pytest.raises(MalformedToken):
        jws.verify(token, key)


@pytest.mark.parametrize("token", ["", ".", "..", "a..", "..a", "a.b."])
def test_empty_header_or_signature_is_malformed(key: Key, token: str) -> None:
    with pytest.raises(MalformedToken):
        jws.verify(token, key)


@pytest.mark.parametrize(
    "inject",
    ["\n", "\t", "\x00", " ", "\u00e9", "%2E", "+", "/", "=", "?", "\ufeff"],
    ids=repr,
)
def test_character_outside_the_alphabet_is_malformed(key: Key, inject: str) -> None:
    h, p, s = split(jws.sign(b"payload!", key))
    for token in (
        f"{h}{inject}.{p}.{s}",
        f"{h}.{p[:3]}{inject}{p[3:]}.{s}",
        f"{h}.{p}.{s}{inject}",
    ):
        with pytest.raises(MalformedToken):
            jws.verify(token, key)
        with pytest.raises(InvalidToken):
            jws.verify(token.encode("utf-8"), key)


@pytest.mark.parametrize("pad", [" ", "\n", "\r\n"])
def test_surrounding_whitespace_is_malformed(key: Key, pad: str) -> None:
    token = jws.sign(b"x", key)
    for bad in (pad + token, token + pad):
        with pytest.raises(MalformedToken):
            jws.verify(bad, key)


@pytest.mark.parametrize("token", [None, 12, 1.5, ["a.b.c"], {"a": 1}, object()], ids=repr)
def test_non_string_token_is_malformed(key: Key, token: object) -> None:
    with pytest.raises(MalformedToken):
        jws.verify(token, key)  # type: ignore[arg-type]


# --- rule 3: canonical base64url (D1) --- #


def test_padding_in_any_segment_is_malformed(key: Key) -> None:
    h, p, s = split(forge(HEADER, b"ab", key))  # "YWI" needs one "=" when padded
    assert len(p) % 4 == 3
    for token in (f"{h}.{p}=.{s}", f"{h}=.{p}.{s}", f"{h}.{p}.{s}="):
        with pytest.raises(MalformedToken):
            jws.verify(token, key)


def test_non_zero_trailing_bits_in_payload_are_malformed(key: Key) -> None:
    # "YWI" is canonical for b"ab"; "YWJ" decodes to the same bytes in lenient decoders
    header = segment(HEADER)
    bad = f"{header}.YWJ"
    token = f"{bad}.{b64(key.sign(bad.encode()))}"
    with pytest.raises(MalformedToken):
        jws.verify(token, key)


def test_non_zero_trailing_bits_in_signature_are_malformed(key: Key) -> None:
    h, p, s = split(jws.sign(b"x", key))  # 32-byte MAC: 43 chars, last char has 2 spare bits
    sibling = ALPHABET[ALPHABET.index(s[-1]) | 1]
    with pytest.raises(MalformedToken):
        jws.verify(f"{h}.{p}.{s[:-1]}{sibling}", key)


def test_standard_alphabet_signature_is_malformed(key: Key) -> None:
    for _ in range(64):
        token = jws.sign(b"%d" % _, key)
        h, p, s = split(token)
        if "-" in s or "_" in s:
            std = s.replace("-", "+").replace("_", "/")
            with pytest.raises(MalformedToken):
                jws.verify(f"{h}.{p}.{std}", key)
            return
    pytest.fail("no signature with - or _ in 64 tries")


def test_length_mod_4_equal_1_is_malformed(key: Key) -> None:
    h, p, s = split(jws.sign(b"abc", key))
    assert len(p) % 4 == 0
    with pytest.raises(MalformedToken):
        jws.verify(f"{h}.{p}A.{s}", key)


@pytest.mark.parametrize("data", [b"", b"\x00", b"\xff\xfe", b"abc", bytes(range(256))])
def test_b64url_helpers_round_trip_and_are_canonical(data: bytes) -> None:
    text = b64url_encode(data)
    # unpadded, URL alphabet only; the strict decoder accepts nothing but canonical text
    assert set(text) <= set(ALPHABET) and len(text) == -(-len(data) * 4 // 3)
    assert b64url_decode(text) == data


@pytest.mark.parametrize("text", ["A", "AB==", "AB", "YWJ", "a+b/", "a b", "QQ="])
def test_b64url_decode_refuses_non_canonical_input(text: str) -> None:
    with pytest.raises(ValueError):
        b64url_decode(text)


# --- rule 4 and 10: strict JSON (C3, C8, D3-D7) --- #

_BAD_PAYLOADS = {
    "duplicate member": b'{"sub":"alice","sub":"admin"}',
    "duplicate via escape": b'{"sub":"alice","s\\u0075b":"admin"}',
    "nested duplicate": b'{"a":{"x":1,"x":2}}',
    "NaN": b'{"exp":NaN}',
    "Infinity": b'{"exp":Infinity}',
    "-Infinity": b'{"nbf":-Infinity}',
    "1e400": b'{"exp":1e400}',
    "-1e400": b'{"exp":-1e400}',
    "5000 digits": b'{"exp":' + b"9" * 5000 + b"}",
    "deep nesting": b'{"a":' + b"[" * 2700 + b"]" * 2700 + b"}",
    "utf-8 BOM": b'\xef\xbb\xbf{"sub":"a"}',
    "utf-16-le": '{"sub":"a"}'.encode("utf-16-le"),
    "utf-16 with BOM": '{"sub":"a"}'.encode("utf-16"),
    "utf-32": '{"sub":"a"}'.encode("utf-32"),
    "overlong utf-8": b'{"sub":"\xc0\xaf"}',
    "encoded surrogate": b'{"sub":"\xed\xa0\x80"}',
    "escaped lone surrogate": b'{"sub":"\\ud800"}',
    "lone surrogate in key": b'{"\\udfff":1}',
    "invalid utf-8": b'{"sub":"\xff"}',
    "array": b"[]",
    "string": b'"x"',
    "number": b"1",
    "null": b"null",
    "true": b"true",
    "empty": b"",
    "trailing data": b'{"a":1}{"b":2}',
    "trailing comma": b'{"a":1,}',
    "single quotes": b"{'a':1}",
    "control character in string": b'{"a":"\x01"}',
    "prose": b"It\xe2\x80\x99s a dangerous business, Frodo",
}


@pytest.mark.parametrize("payload", _BAD_PAYLOADS.values(), ids=_BAD_PAYLOADS.keys())
def test_bad_claims_json_is_malformed_after_a_valid_signature(key: Key, payload: bytes) -> None:
    token = _claims_token(key, payload)
    assert jws.verify(token, key).payload == payload  # the JWS itself is fine
    with pytest.raises(MalformedToken):
        decode_jwt(token, key)


@pytest.mark.parametrize("payload", _BAD_PAYLOADS.values(), ids=_BAD_PAYLOADS.keys())
def test_bad_header_json_is_malformed(key: Key, payload: bytes) -> None:
    # the same defects in the header (the alg/kid members are irrelevant: parsing fails first)
    with pytest.raises(MalformedToken):
        jws.verify(forge(payload, {"sub": "a"}, key), key)


@pytest.mark.parametrize(
    "payload",
    [
        b'{"sub":"\\ud83d\\ude00"}',  # an escaped surrogate *pair* is a valid character
        b' {"sub":"a"} ',
        b'{"exp":1.5e9,"big":12345678901234567890}',
        '{"name":"Zoë 😀"}'.encode(),
    ],
)
def test_legal_claims_json_is_accepted(key: Key, payload: bytes) -> None:
    claims = decode_jwt(_claims_token(key, payload), key)[1]
    assert isinstance(claims, dict) and claims


def test_duplicate_header_member_is_malformed(key: Key) -> None:
    # C3: {"alg":"none","alg":"HS256"} correctly MACed
    header = b'{"alg":"none","alg":"HS256","kid":"HS256"}'
    with pytest.raises(MalformedToken):
        jws.verify(forge(header, b"{}", key), key)
