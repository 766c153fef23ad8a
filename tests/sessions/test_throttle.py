"""LoginThrottle on memory and Redis (security profile sec. 6).

limits reads the wall clock itself and cannot take an injected clock, so these tests assert
counts, lock state and the computed back-off, never wait for a lock to lapse.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio

from tokenward.errors import ConfigurationError, Throttled
from tokenward.sessions.throttle import (
    LoginThrottle,
    ThrottleConfig,
    ThrottlePolicy,
    client_bucket,
)


@pytest.fixture(params=["memory", "redis"])
async def throttle(request: pytest.FixtureRequest) -> AsyncIterator[LoginThrottle]:
    if request.param == "memory":
        yield LoginThrottle.memory()
        return
    url = request.getfixturevalue("redis_url")
    prefix = request.getfixturevalue("unique_prefix")
    limiter = LoginThrottle.redis(url, key_prefix=prefix)
    try:
        yield limiter
    finally:
        await limiter.reset()


async def _locked_for(throttle: LoginThrottle, key: str | None, ip: str | None) -> int | None:
    try:
        await throttle.check(key, ip)
    except Throttled as exc:
        return exc.retry_after
    return None


async def test_exponential_backoff_after_free_attempts(throttle: LoginThrottle) -> None:
    delays = []
    locked = []
    for _ in range(9):
        delays.append(await throttle.record_failure("alice", None))
        locked.append(await _locked_for(throttle, "alice", None) is not None)
    assert delays == [0, 0, 0, 0, 1, 2, 4, 8, 16]
    assert locked == [False] * 4 + [True] * 5
    retry = await _locked_for(throttle, "alice", None)
    assert retry is not None and 1 <= retry <= 16
    assert await _locked_for(throttle, "bob", None) is None


def test_backoff_is_capped() -> None:
    policy = ThrottlePolicy(free=5, base_delay=1, max_delay=900)
    assert [policy.delay(n) for n in (4, 5, 6, 14, 15, 200)] == [0, 1, 2, 512, 900, 900]


async def test_success_resets_account_but_not_ip(throttle: LoginThrottle) -> None:
    for _ in range(5):
        await throttle.record_failure("alice", "192.0.2.1")
    assert await _locked_for(throttle, "alice", None) is not None
    await throttle.record_success("alice", "192.0.2.1")
    assert await _locked_for(throttle, "alice", None) is None
    assert await throttle.failures("alice", "192.0.2.1") == {"account": 0, "ip": 5}


async def test_ipv6_bucketed_per_64(throttle: LoginThrottle) -> None:
    for i in range(20):
        await throttle.record_failure(None, f"2001:db8:aa:bb::{i:x}")
    assert await _locked_for(throttle, None, "2001:db8:aa:bb:1:2:3:4") is not None
    assert await _locked_for(throttle, None, "2001:db8:aa:bc::1") is None


async def test_refresh_scope_is_separate(throttle: LoginThrottle) -> None:
    for _ in range(50):
        await throttle.record_failure(None, "192.0.2.9", kind="refresh")
    with pytest.raises(Throttled):
        await throttle.check(None, "192.0.2.9", kind="refresh")
    await throttle.check("alice", "192.0.2.9")  # password logins from that address still pass


@pytest.mark.parametrize(
    ("ip", "bucket"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("2001:db8::1", "2001:db8::/64"),
        ("2001:DB8:0:0:ffff::1", "2001:db8::/64"),
        ("fe80::1%eth0", "fe80::/64"),
        ("not an ip", "unparsable"),
        ("", "unparsable"),
    ],
)
def test_client_bucket(ip: str, bucket: str) -> None:
    assert client_bucket(ip) == bucket


def test_invalid_policy_refused() -> None:
    with pytest.raises(ConfigurationError):
        ThrottlePolicy(free=0)
    with pytest.raises(ConfigurationError):
        ThrottlePolicy(free=3, base_delay=10, max_delay=1)


async def test_redis_keys_live_under_prefix_and_hide_usernames(
    redis_url: str, unique_prefix: str
) -> None:
    limiter = LoginThrottle.redis(
        redis_url, key_prefix=unique_prefix, config=ThrottleConfig(account=ThrottlePolicy(free=1))
    )
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        await limiter.record_failure("alice@example.com", "192.0.2.1")
        keys = [k.decode() for k in await client.keys(f"{unique_prefix}*")]
        assert keys and all(k.startswith(unique_prefix) for k in keys)
        assert not any("alice" in k for k in keys)
        assert await _locked_for(limiter, "alice@example.com", None) is not None
        # a second instance (another node) sees the same state
        other = LoginThrottle.redis(redis_url, key_prefix=unique_prefix)
        assert await _locked_for(other, "alice@example.com", None) is not None
        await limiter.reset()
        assert await client.keys(f"{unique_prefix}*") == []
    finally:
        await client.aclose()


async def test_redis_throttle_can_share_an_application_pool(
    redis_url: str, unique_prefix: str
) -> None:
    client = redis.asyncio.Redis.from_url(redis_url)
    limiter = LoginThrottle.redis(
        redis_url, key_prefix=unique_prefix, connection_pool=client.connection_pool
    )
    try:
        await limiter.record_failure("alice", None)
        assert await limiter.failures("alice", None) == {"account": 1}
        assert await client.keys(f"{unique_prefix}*")
        await limiter.reset()
    finally:
        await client.aclose()


async def test_each_lock_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    limiter = LoginThrottle.memory()
    with caplog.at_level("WARNING", logger="tokenward"):
        for _ in range(6):
            await limiter.record_failure("alice", None)
        for _ in range(10):  # refused attempts are not logged again
            with pytest.raises(Throttled):
                await limiter.check("alice", None)
    events = [r for r in caplog.records if getattr(r, "event", None) == "login_throttled"]
    assert [(r.scope, r.failures, r.retry_after) for r in events] == [  # type: ignore[attr-defined]
        ("acct", 5, 1),
        ("acct", 6, 2),
    ]
    assert all("alice" not in r.getMessage() and "alice" not in repr(vars(r)) for r in events)
