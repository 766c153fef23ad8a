"""RemoteKeySet: schedule, unknown-kid cooldown, last-known-good, URL rules, size cap."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from _validation_support import AUD, ISS, Sign

from tokenward import Key, KeySet, TokenValidator, ValidationPolicy
from tokenward.clock import FixedClock
from tokenward.errors import (
    ConfigurationError,
    KeySetUnavailable,
    UnknownKey,
    UnsupportedHeader,
)
from tokenward.keys.remote import RemoteKeySet

URL = "https://idp.example.com/.well-known/jwks.json"


class JWKSServer:
    """An httpx mock transport serving a JWKS document that tests can change or break."""

    def __init__(self, *keys: Key) -> None:
        self.doc: Any = KeySet(keys).to_jwks()
        self.status = 200
        self.requests: list[httpx.Request] = []
        self.body: bytes | None = None

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.status != 200:
            return httpx.Response(self.status)
        body = self.body if self.body is not None else json.dumps(self.doc).encode()
        return httpx.Response(200, content=body)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handler))


@pytest.fixture
def rotated_key() -> Key:
    return Key.generate("ES256", kid="rotated-in")


@pytest.fixture
def server(es_key: Key) -> JWKSServer:
    return JWKSServer(es_key.public())


@pytest.fixture
async def remote(server: JWKSServer, clock: FixedClock) -> Any:
    async with server.client() as client:
        yield RemoteKeySet(URL, clock=clock, client=client)


async def test_first_use_fetches_and_caches(remote: RemoteKeySet, server: JWKSServer) -> None:
    with pytest.raises(KeySetUnavailable):
        remote.current_keys()  # nothing fetched yet: no I/O from the sync path
    keys = await remote.aget_keys()
    assert keys.kids == ("es-1",)
    assert await remote.aget_keys() is keys
    assert remote.current_keys() is keys
    assert len(server.requests) == 1


async def test_refresh_happens_on_schedule(
    remote: RemoteKeySet, server: JWKSServer, clock: FixedClock, rotated_key: Key
) -> None:
    first = await remote.aget_keys()
    server.doc = KeySet([rotated_key.public()]).to_jwks()
    clock.advance(3599)
    assert await remote.aget_keys() is first
    assert len(server.requests) == 1
    clock.advance(1)
    assert (await remote.aget_keys()).kids == ("rotated-in",)
    assert len(server.requests) == 2


async def test_unchanged_document_keeps_the_same_key_set_object(
    remote: RemoteKeySet, server: JWKSServer, clock: FixedClock
) -> None:
    first = await remote.aget_keys()
    clock.advance(3600)
    assert await remote.aget_keys() is first  # validators keep their verified cache
    assert len(server.requests) == 2


async def test_unknown_kid_refresh_at_most_once_per_cooldown(
    remote: RemoteKeySet, server: JWKSServer, clock: FixedClock, rotated_key: Key
) -> None:
    await remote.aget_keys()
    assert await remote.refresh_for_unknown_kid() is False  # fetched, nothing new
    for _ in range(20):
        assert await remote.refresh_for_unknown_kid() is False
    assert len(server.requests) == 2
    server.doc = KeySet([rotated_key.public()]).to_jwks()
    clock.advance(299)
    assert await remote.refresh_for_unknown_kid() is False
    assert len(server.requests) == 2
    clock.advance(1)
    assert await remote.refresh_for_unknown_kid() is True
    assert len(server.requests) == 3


#: bodies the strict parser refuses (the same one as token headers: profile C3, D3, D5);
#: a last-wins parse of the first would let a later duplicate member swap the key in
NON_STRICT = ("dup keys member", "dup member in a key", "NaN in a key", "BOM", "UTF-16")


def _non_strict_body(kind: str, real: dict[str, Any]) -> bytes:
    evil = Key.generate("ES256", kid=real["kid"]).public().to_jwk()
    members = json.dumps(real)[1:-1]  # to splice another member into the key
    text = {
        "dup keys member": f'{{"keys": [{json.dumps(real)}], "keys": [{json.dumps(evil)}]}}',
        "dup member in a key": f'{{"keys": [{{{members}, "x": {json.dumps(evil["x"])}}}]}}',
        "NaN in a key": f'{{"keys": [{{{members}, "exp": NaN}}]}}',
        "BOM": "\ufeff" + json.dumps({"keys": [evil]}),
        "UTF-16": json.dumps({"keys": [evil]}),
    }[kind]
    return text.encode("utf-16" if kind == "UTF-16" else "utf-8")


@pytest.mark.parametrize("failure", ["status", "json", "empty", "duplicate", "huge", *NON_STRICT])
async def test_last_known_good_is_kept_when_a_fetch_fails(
    remote: RemoteKeySet, server: JWKSServer, clock: FixedClock, es_key: Key, failure: str
) -> None:
    good = await remote.aget_keys()
    if failure in NON_STRICT:
        server.body = _non_strict_body(failure, es_key.public().to_jwk())
    elif failure == "status":
        server.status = 500
    elif failure == "json":
        server.body = b'{"keys": [NaN]}'
    elif failure == "empty":
        server.doc = {"keys": [{"kty": "oct", "k": "AAAA"}]}
    elif failure == "duplicate":
        server.doc = {"keys": [es_key.public().to_jwk()] * 2}
    else:
        server.body = b" " * (600 * 1024)
    clock.advance(3600)
    assert await remote.aget_keys() is good
    assert isinstance(remote.last_error, KeySetUnavailable)
    with pytest.raises(KeySetUnavailable):
        await remote.refresh()
    assert remote.current_keys() is good
    assert remote.current_keys().to_jwks() == {"keys": [es_key.public().to_jwk()]}


async def test_failed_fetch_is_retried_after_the_retry_interval_not_every_call(
    remote: RemoteKeySet, server: JWKSServer, clock: FixedClock
) -> None:
    await remote.aget_keys()
    server.status = 503
    clock.advance(3600)
    for _ in range(10):
        await remote.aget_keys()
    assert len(server.requests) == 2
    server.status = 200
    clock.advance(30)
    await remote.aget_keys()
    assert len(server.requests) == 3 and remote.last_error is None


async def test_never_loaded_and_failing_raises(server: JWKSServer, clock: FixedClock) -> None:
    server.status = 404
    async with server.client() as client:
        remote = RemoteKeySet(URL, clock=clock, client=client)
        with pytest.raises(KeySetUnavailable):
            await remote.aget_keys()


async def test_redirects_are_not_followed(clock: FixedClock) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(302, headers={"Location": "http://169.254.169.254/latest"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        remote = RemoteKeySet(URL, clock=clock, client=client)
        with pytest.raises(KeySetUnavailable):
            await remote.aget_keys()
    assert seen == [URL]


@pytest.mark.parametrize(
    "url",
    [
        "http://idp.example.com/jwks.json",
        "http://10.0.0.1/jwks",
        "http://169.254.169.254/latest/meta-data",
        "ftp://idp.example.com/jwks",
        "file:///etc/passwd",
        "https://user:pw@idp.example.com/jwks",
        "https:///jwks",
        "jwks.json",
    ],
)
def test_non_https_urls_are_refused_except_loopback(url: str) -> None:
    with pytest.raises(ConfigurationError):
        RemoteKeySet(url)


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8080/jwks", "http://localhost/jwks", "http://[::1]:9/jwks", URL],
)
def test_https_and_loopback_http_are_accepted(url: str) -> None:
    assert RemoteKeySet(url).url == url


@pytest.mark.parametrize(
    "kwargs",
    [{"refresh_interval": 0}, {"unknown_kid_cooldown": -1}, {"timeout": float("nan")}],
    ids=repr,
)
def test_bad_intervals_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        RemoteKeySet(URL, **kwargs)


# --- with the validator --- #


@pytest.fixture
def policy_es() -> ValidationPolicy:
    return ValidationPolicy(issuers=ISS, audiences=AUD, algorithms="ES256")


async def test_avalidate_refreshes_once_on_an_unknown_kid(
    remote: RemoteKeySet,
    server: JWKSServer,
    clock: FixedClock,
    rotated_key: Key,
    sign: Sign,
    policy_es: ValidationPolicy,
) -> None:
    validator = TokenValidator(remote, policy_es, clock=clock)
    assert (await validator.avalidate(sign())).subject == "user-1"
    rotated = sign(key=rotated_key)
    with pytest.raises(UnknownKey):
        await validator.avalidate(rotated)  # refetch brings nothing new
    server.doc = KeySet([rotated_key.public()]).to_jwks()
    with pytest.raises(UnknownKey):
        await validator.avalidate(rotated)  # cooldown: no new fetch
    fetches = len(server.requests)
    clock.advance(300)
    assert (await validator.avalidate(rotated)).subject == "user-1"
    assert len(server.requests) == fetches + 1


async def test_sync_validate_uses_the_last_fetched_keys(
    remote: RemoteKeySet, sign: Sign, clock: FixedClock, policy_es: ValidationPolicy
) -> None:
    validator = TokenValidator(remote, policy_es, clock=clock)
    with pytest.raises(KeySetUnavailable):
        validator.validate(sign())
    await remote.aget_keys()
    assert validator.validate(sign()).subject == "user-1"


@pytest.fixture
async def loaded(
    remote: RemoteKeySet, server: JWKSServer, clock: FixedClock, policy_es: ValidationPolicy
) -> tuple[TokenValidator, int]:
    """A validator over ``remote`` after its first fetch, and the request count then."""
    validator = TokenValidator(remote, policy_es, clock=clock)
    await remote.aget_keys()
    return validator, len(server.requests)


@pytest.mark.parametrize("member", ["jku", "x5u"])
@pytest.mark.parametrize("kid", ["evil", "es-1"])
async def test_jku_token_is_refused_before_any_kid_lookup_or_fetch(
    loaded: tuple[TokenValidator, int], server: JWKSServer, sign: Sign, member: str, kid: str
) -> None:
    validator, before = loaded
    token = sign(header_changes={member: "https://evil.example/jwks.json", "kid": kid})
    with pytest.raises(UnsupportedHeader):
        await validator.avalidate(token)
    assert len(server.requests) == before  # forbidden header: no unknown-kid refresh either


@pytest.mark.parametrize("kid", ["evil", "https://evil.example/jwks.json"])
async def test_unknown_kid_causes_one_cooldown_limited_fetch_of_the_configured_url(
    loaded: tuple[TokenValidator, int], server: JWKSServer, sign: Sign, kid: str
) -> None:
    validator, before = loaded
    token = sign(key=Key.generate("ES256", kid=kid))  # header: alg, typ and an unknown kid
    for _ in range(5):
        with pytest.raises(UnknownKey) as info:
            await validator.avalidate(token)
        assert info.value.kid == kid
    assert len(server.requests) == before + 1  # one refresh, then the cooldown holds
    assert [str(r.url) for r in server.requests] == [URL] * len(server.requests)


async def test_token_without_kid_is_refused_without_a_fetch(
    loaded: tuple[TokenValidator, int],
    remote: RemoteKeySet,
    server: JWKSServer,
    sign: Sign,
    rotated_key: Key,
) -> None:
    validator, before = loaded
    assert len(remote.current_keys()) == 1  # one key: still never "the only key" (B5)
    with pytest.raises(UnknownKey):
        await validator.avalidate(sign(header_changes={"kid": ...}))
    with pytest.raises(UnknownKey):
        validator.validate(sign(header_changes={"kid": ...}))
    assert len(server.requests) == before
    # the unknown-kid cooldown was not spent on it: a rotated key is still picked up
    server.doc = KeySet([rotated_key.public()]).to_jwks()
    assert (await validator.avalidate(sign(key=rotated_key))).subject == "user-1"
    assert len(server.requests) == before + 1


# --- a real HTTP server on 127.0.0.1 --- #


@pytest.fixture
def local_server(es_key: Key) -> Iterator[tuple[str, Callable[[], int]]]:
    body = json.dumps(KeySet([es_key.public()]).to_jwks()).encode()
    hits = [0]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits[0] += 1
            self.send_response(200)
            self.send_header("Content-Type", "application/jwk-set+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/jwks.json", lambda: hits[0]
    finally:
        httpd.shutdown()
        httpd.server_close()


async def test_fetch_from_a_real_loopback_server(
    local_server: tuple[str, Callable[[], int]],
    sign: Sign,
    clock: FixedClock,
    policy_es: ValidationPolicy,
) -> None:
    url, hits = local_server
    async with RemoteKeySet(url, clock=clock) as remote:
        validator = TokenValidator(remote, policy_es, clock=clock)
        assert (await validator.avalidate(sign())).subject == "user-1"
        await validator.avalidate(sign())
    assert hits() == 1


async def test_keys_without_alg_are_bound_to_default_alg_or_skipped(
    es_key: Key, clock: FixedClock
) -> None:
    jwk = {k: v for k, v in es_key.public().to_jwk().items() if k != "alg"}
    server = JWKSServer()
    server.doc = {"keys": [jwk]}
    async with server.client() as client:
        with pytest.raises(KeySetUnavailable):
            await RemoteKeySet(URL, clock=clock, client=client).aget_keys()
        bound = RemoteKeySet(URL, clock=clock, client=client, default_alg="ES256")
        assert [k.alg for k in await bound.aget_keys()] == ["ES256"]
        mismatched = RemoteKeySet(URL, clock=clock, client=client, default_alg="RS256")
        with pytest.raises(KeySetUnavailable):
            await mismatched.aget_keys()  # an EC key cannot be bound to RS256


def test_unknown_default_alg_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        RemoteKeySet(URL, default_alg="none")
