"""Sign/verify round trips and the key-selection rules of ``tokenward.jws``."""

from __future__ import annotations

import base64
import json

import pytest
from forge import ALGS, b64, forge, split

from tokenward import Key, KeySet, jws
from tokenward.errors import (
    AlgorithmNotAllowed,
    BadSignature,
    ConfigurationError,
    InvalidKey,
    UnknownKey,
)
from tokenward.jose import decode_jwt


@pytest.mark.parametrize("alg", ALGS)
def test_sign_then_verify_with_public_key_returns_header_payload_and_key(
    keys: dict[str, Key], alg: str
) -> None:
    key = keys[alg]
    token = jws.sign(b"hello", key, header={"typ": "at+jwt"})
    verified = jws.verify(token, key.public())
    assert verified.header == {"alg": alg, "kid": alg, "typ": "at+jwt"}
    assert verified.payload == b"hello"
    assert verified.key.kid == alg


@pytest.mark.parametrize("alg", ALGS)
def test_decode_jwt_returns_claims_dict(keys: dict[str, Key], alg: str) -> None:
    key = keys[alg]
    token = jws.sign(json.dumps({"sub": "alice", "n": 1.5}).encode(), key)
    header, claims, used = decode_jwt(token, KeySet([key.public()]))
    assert claims == {"sub": "alice", "n": 1.5}
    assert header["kid"] == alg and used.alg == alg


@pytest.mark.parametrize("alg", ALGS)
def test_flipped_signature_bit_is_bad_signature(keys: dict[str, Key], alg: str) -> None:
    token = jws.sign(b"{}", keys[alg])
    h, p, s = split(token)
    sig = bytearray(keys[alg].sign(f"{h}.{p}".encode()))
    sig[len(sig) // 2] ^= 1
    with pytest.raises(BadSignature):
        jws.verify(forge(json.loads(_unb64(h)), b"{}", signature=bytes(sig)), keys[alg])


@pytest.mark.parametrize("alg", ALGS)
def test_changed_payload_is_bad_signature(keys: dict[str, Key], alg: str) -> None:
    h, _, s = split(jws.sign(b'{"sub":"alice"}', keys[alg]))
    tampered = ".".join([h, b64(b'{"sub":"admin"}'), s])
    with pytest.raises(BadSignature):
        jws.verify(tampered, keys[alg])


def test_header_cannot_override_alg_or_kid(keys: dict[str, Key]) -> None:
    with pytest.raises(ConfigurationError):
        jws.sign(b"x", keys["HS256"], header={"alg": "none"})
    with pytest.raises(ConfigurationError):
        jws.sign(b"x", keys["HS256"], header={"kid": "other"})
    # restating the key's own values is harmless
    token = jws.sign(b"x", keys["HS256"], header={"alg": "HS256", "kid": "HS256"})
    assert jws.verify(token, keys["HS256"]).payload == b"x"


@pytest.mark.parametrize("name", ["crit", "b64", "zip", "enc", "cty", "jku", "x5u", "jwk", "x5c"])
def test_sign_refuses_header_parameters_the_verifier_rejects(
    keys: dict[str, Key], name: str
) -> None:
    with pytest.raises(ConfigurationError):
        jws.sign(b"x", keys["HS256"], header={name: "x"})


def test_public_key_cannot_sign(keys: dict[str, Key]) -> None:
    with pytest.raises(InvalidKey):
        jws.sign(b"x", keys["ES256"].public())


def test_keyset_selects_key_by_kid(keys: dict[str, Key]) -> None:
    keyset = KeySet([keys["ES256"].public(), keys["RS256"].public(), keys["HS256"]])
    for alg in ("ES256", "RS256", "HS256"):
        assert jws.verify(jws.sign(b"x", keys[alg]), keyset).key.kid == alg


def test_unknown_kid_is_unknown_key(keys: dict[str, Key]) -> None:
    other = Key.generate("ES256", kid="not-in-set")
    keyset = KeySet([keys["ES256"].public()])
    with pytest.raises(UnknownKey) as info:
        jws.verify(jws.sign(b"x", other), keyset)
    assert info.value.kid == "not-in-set"


def test_single_key_with_other_kid_is_unknown_key(keys: dict[str, Key]) -> None:
    other = Key.generate("HS256", kid="other")
    with pytest.raises(UnknownKey):
        jws.verify(jws.sign(b"x", other), keys["HS256"])


def test_missing_kid_accepted_only_with_a_single_key(keys: dict[str, Key]) -> None:
    key = keys["ES256"]
    token = forge({"alg": "ES256"}, b"x", key)
    assert jws.verify(token, KeySet([key.public()])).payload == b"x"
    assert jws.verify(token, key.public()).payload == b"x"
    two = KeySet([key.public(), keys["RS256"].public()])
    with pytest.raises(UnknownKey):  # B5: never "try every key"
        jws.verify(token, two)


@pytest.mark.parametrize("single", ["key", "keyset"])
def test_decode_jwt_require_kid_refuses_a_kid_less_token_before_crypto(
    keys: dict[str, Key], single: str
) -> None:
    key = keys["ES256"]
    resolver = key.public() if single == "key" else KeySet([key.public()])
    token = forge({"alg": "ES256"}, b"{}", key)
    assert decode_jwt(token, resolver)[1] == {}  # default: accepted, header now cached
    with pytest.raises(UnknownKey):
        decode_jwt(token, resolver, require_kid=True)
    h, p, _ = split(token)
    with pytest.raises(UnknownKey):  # not BadSignature: refused before verification
        decode_jwt(f"{h}.{p}.{b64(bytes(64))}", resolver, require_kid=True)
    with_kid = jws.sign(b"{}", key)
    assert decode_jwt(with_kid, resolver, require_kid=True)[0]["kid"] == "ES256"


def test_algorithms_allow_list_is_enforced(keys: dict[str, Key]) -> None:
    token = jws.sign(b"x", keys["ES256"])
    assert jws.verify(token, keys["ES256"], algorithms={"ES256"}).payload == b"x"
    with pytest.raises(AlgorithmNotAllowed):
        jws.verify(token, keys["ES256"], algorithms=["RS256"])


def test_cached_header_still_checks_the_allow_list_and_signature(keys: dict[str, Key]) -> None:
    key = keys["HS256"]
    token = jws.sign(b"x", key)
    jws.verify(token, key)  # header now cached for this key
    with pytest.raises(AlgorithmNotAllowed):
        jws.verify(token, key, algorithms=("HS512",))
    h, p, _ = split(token)
    with pytest.raises(BadSignature):
        jws.verify(f"{h}.{p}.{b64(bytes(32))}", key)


def test_returned_header_is_a_copy_that_does_not_poison_the_cache(keys: dict[str, Key]) -> None:
    key = keys["HS256"]
    token = jws.sign(b"{}", key, header={"typ": "at+jwt"})
    jws.verify(token, key).header["typ"] = "changed"
    decode_jwt(token, key)[0]["typ"] = "changed"
    assert jws.verify(token, key).header["typ"] == "at+jwt"


def test_bytes_token_is_accepted(keys: dict[str, Key]) -> None:
    token = jws.sign(b"x", keys["EdDSA"])
    assert jws.verify(token.encode(), keys["EdDSA"]).payload == b"x"


def _unb64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "==")


def test_algorithms_given_as_a_string_is_a_configuration_error(keys: dict[str, Key]) -> None:
    # "HS256" in "HS256,RS256" would be a substring test, not an allow-list
    token = jws.sign(b"{}", keys["HS256"])
    with pytest.raises(ConfigurationError):
        jws.verify(token, keys["HS256"], algorithms="HS256,RS256")
    with pytest.raises(ConfigurationError):
        decode_jwt(token, keys["HS256"], algorithms="HS256")


@pytest.mark.parametrize("resolver", [None, [], {"kid": "x"}, "secret"], ids=repr)
def test_keys_argument_of_the_wrong_type_is_a_configuration_error(
    keys: dict[str, Key], resolver: object
) -> None:
    with pytest.raises(ConfigurationError):
        jws.verify(jws.sign(b"x", keys["HS256"]), resolver)  # type: ignore[arg-type]


def test_header_cache_stays_bounded(keys: dict[str, Key]) -> None:
    key = Key.generate("HS256", kid="bounded")
    for i in range(500):
        jws.verify(jws.sign(b"x", key, header={"typ": f"t{i}"}), key)
        assert len(key._header_cache) <= 64
        assert len(key._sign_cache) <= 64


def test_decode_jwt_can_share_the_cached_header_without_copying(keys: dict[str, Key]) -> None:
    key = keys["HS256"]
    token = jws.sign(b'{"sub":"a"}', key, header={"typ": "at+jwt"})
    first = decode_jwt(token, key, copy_header=False)[0]
    second = decode_jwt(token, key, copy_header=False)[0]
    assert first is second and first == {"alg": "HS256", "kid": "HS256", "typ": "at+jwt"}
    assert decode_jwt(token, key)[0] is not first
