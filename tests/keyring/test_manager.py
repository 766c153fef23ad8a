"""KeyManager lifecycle: load, rotate, poll, prune, retire, schedule, SIGHUP; over every store."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import threading
from collections.abc import Callable

import pytest

from tokenward.clock import FixedClock
from tokenward.errors import ConfigurationError, InvalidKey, StorageUnavailable
from tokenward.keyring import KeyManager, KeyState, KeyStore, StoredKey
from tokenward.observability import Metrics
from tokenward.tokens import issuer_factory

RETIRE = 15 * 60 + 30.0  # access-token lifetime + leeway
POLL = 10.0
PERIOD = RETIRE + POLL  # a lagging instance may sign with the old key until it polls


def manager(store: KeyStore, clock: FixedClock, **kwargs: object) -> KeyManager:
    kwargs.setdefault("poll_interval", POLL)
    return KeyManager(store, alg="ES256", clock=clock, retire_after=RETIRE, **kwargs)  # type: ignore[arg-type]


async def two_instances(
    store_factory: Callable[[], KeyStore], clock: FixedClock
) -> tuple[KeyManager, KeyManager]:
    """Two loaded managers over the same backing data: two instances of a deployment."""
    a, b = manager(store_factory(), clock), manager(store_factory(), clock)
    await a.load()
    await b.load()
    return a, b


def states(m: KeyManager) -> dict[KeyState, list[str]]:
    out: dict[KeyState, list[str]] = {s: [] for s in KeyState}
    for k in m.keys:
        out[k.state].append(k.kid)
    return out


async def test_load_on_empty_store_creates_active_and_next(
    store: KeyStore, clock: FixedClock
) -> None:
    m = manager(store, clock)
    await m.load()
    s = states(m)
    assert len(s[KeyState.ACTIVE]) == 1 and len(s[KeyState.NEXT]) == 1
    assert m.active_key.is_private
    assert m.active_key.kid == s[KeyState.ACTIVE][0]
    published = m.current_keys()
    assert set(published.kids) == set(s[KeyState.ACTIVE] + s[KeyState.NEXT])
    assert all(not k.is_private for k in published)


async def test_load_again_reuses_the_stored_keys(
    store_factory: Callable[[], KeyStore], clock: FixedClock
) -> None:
    a, b = await two_instances(store_factory, clock)
    assert a.active_key.kid == b.active_key.kid
    assert set(a.current_keys().kids) == set(b.current_keys().kids)


async def test_concurrent_first_load_yields_one_active(
    store_factory: Callable[[], KeyStore], clock: FixedClock
) -> None:
    managers = [manager(store_factory(), clock) for _ in range(3)]
    await asyncio.gather(*(m.load() for m in managers))
    assert len({m.active_key.kid for m in managers}) == 1
    assert len(managers[0].keys) == 2


def test_requires_load_first(store: KeyStore, clock: FixedClock) -> None:
    with pytest.raises(ConfigurationError, match="load"):
        _ = manager(store, clock).active_key


async def test_rotate_promotes_next_and_retires_active(store: KeyStore, clock: FixedClock) -> None:
    metrics = Metrics()
    m = manager(store, clock, metrics=metrics)
    await m.load()
    old_active, old_next = m.active.kid, states(m)[KeyState.NEXT][0]
    clock.advance(100)
    new_active, new_next = await m.rotate()
    assert new_active.kid == old_next == m.active_key.kid
    assert new_active.activated_at == clock.now()
    retired = next(k for k in m.keys if k.kid == old_active)
    assert retired.state is KeyState.RETIRED
    assert retired.retire_after == clock.now() + PERIOD
    assert m.retire_period == PERIOD
    assert new_next.state is KeyState.NEXT and new_next.kid not in (old_active, old_next)
    assert set(m.current_keys().kids) == {old_active, old_next, new_next.kid}
    assert metrics.value("key_rotations_total") == 1


async def test_rotate_returns_the_next_key_it_published(store: KeyStore, clock: FixedClock) -> None:
    """Other next keys created in the same instant (generate, then rotate) are not
    mistaken for the one rotate() inserted, whatever their kids sort like."""
    m = manager(store, clock)
    await m.load()
    for _ in range(3):
        await m.generate()
    before = {k.kid for k in m.keys}
    _, new_next = await m.rotate()
    assert new_next.kid not in before
    assert {k.kid: k.state for k in m.keys}[new_next.kid] is KeyState.NEXT


async def test_current_keys_identity_changes_only_with_the_set(
    store: KeyStore, clock: FixedClock
) -> None:
    m = manager(store, clock)
    await m.load()
    first = m.current_keys()
    assert not await m.poll()
    assert m.current_keys() is first
    await m.rotate()
    assert m.current_keys() is not first


async def test_other_instance_converges_on_poll(
    store_factory: Callable[[], KeyStore], clock: FixedClock
) -> None:
    a, b = await two_instances(store_factory, clock)
    before = b.current_keys()
    new_active, new_next = await a.rotate()
    # before polling, b still signs with the old key, which a still publishes (retired)
    assert b.active_key.kid in a.current_keys()
    # and a's new active key was already published by b as "next"
    assert new_active.kid in before
    assert await b.poll()
    assert b.active_key.kid == new_active.kid
    assert new_next.kid in b.current_keys()
    assert not await b.poll()


async def test_concurrent_rotations_from_two_instances(
    store_factory: Callable[[], KeyStore], clock: FixedClock
) -> None:
    a, b = await two_instances(store_factory, clock)
    await asyncio.gather(a.rotate(), b.rotate())
    await a.poll()
    await b.poll()
    assert a.active_key.kid == b.active_key.kid
    assert [k.state for k in a.keys].count(KeyState.ACTIVE) == 1
    assert [k.state for k in a.keys].count(KeyState.RETIRED) == 2  # two rotations, serialised


async def test_prune_waits_for_the_retire_period(store: KeyStore, clock: FixedClock) -> None:
    m = manager(store, clock)
    await m.load()
    old = m.active.kid
    await m.rotate()
    clock.advance(PERIOD - 1)
    assert await m.prune() == []
    assert old in m.current_keys()
    clock.advance(1)
    assert await m.prune() == [old]
    assert old not in m.current_keys()
    assert await store.get_key(old) is None


async def test_retire_a_next_key_is_immediate(store: KeyStore, clock: FixedClock) -> None:
    m = manager(store, clock)
    await m.load()
    nxt = states(m)[KeyState.NEXT][0]
    retired = await m.retire(nxt)
    assert retired.state is KeyState.RETIRED and retired.retire_after == clock.now()
    assert await m.prune() == [nxt]


async def test_retire_refuses_the_active_and_unknown_keys(
    store: KeyStore, clock: FixedClock
) -> None:
    m = manager(store, clock)
    await m.load()
    with pytest.raises(InvalidKey, match="rotate"):
        await m.retire(m.active.kid)
    with pytest.raises(InvalidKey):
        await m.retire("no-such-kid")


async def test_rotate_without_a_next_key_still_works(store: KeyStore, clock: FixedClock) -> None:
    m = manager(store, clock)
    await m.load()
    await m.retire(states(m)[KeyState.NEXT][0])
    await m.prune()
    old = m.active.kid
    new_active, _ = await m.rotate()
    assert new_active.kid != old
    assert [k.state for k in m.keys].count(KeyState.ACTIVE) == 1


async def test_generate_adds_a_published_next_key(store: KeyStore, clock: FixedClock) -> None:
    m = manager(store, clock)
    await m.load()
    added = await m.generate(alg="RS256")
    assert added.state is KeyState.NEXT and added.alg == "RS256"
    assert added.kid in m.current_keys()


async def test_scheduled_rotation(store: KeyStore, clock: FixedClock) -> None:
    day = 86400.0
    m = manager(store, clock, rotate_every=30 * day, min_prepublish=day)
    await m.load()
    first = m.active.kid
    clock.advance(30 * day - 1)
    assert not await m.maybe_rotate()
    clock.advance(1)
    assert await m.maybe_rotate()
    assert m.active.kid != first
    assert not await m.maybe_rotate()


async def test_schedule_never_promotes_a_key_younger_than_the_jwks_cache(
    store: KeyStore, clock: FixedClock
) -> None:
    day = 86400.0
    m = manager(store, clock, rotate_every=30 * day, min_prepublish=day)
    await m.load()
    clock.advance(30 * day)
    await m.retire(states(m)[KeyState.NEXT][0])
    await m.generate()  # a next key published just now
    assert not await m.maybe_rotate()
    clock.advance(day)
    assert await m.maybe_rotate()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rotate_every": 3600.0, "min_prepublish": 7200.0},
        {"rotate_every": 5.0, "poll_interval": 10.0},
        {"poll_interval": 0.0},
    ],
)
def test_inconsistent_periods_are_refused(
    store: KeyStore, clock: FixedClock, kwargs: dict[str, float]
) -> None:
    with pytest.raises(ConfigurationError):
        manager(store, clock, **kwargs)


async def test_tick_polls_rotates_and_prunes(
    store_factory: Callable[[], KeyStore], clock: FixedClock
) -> None:
    a, b = await two_instances(store_factory, clock)
    old = a.active.kid
    await a.rotate()
    clock.advance(PERIOD)
    assert await b.tick()
    assert old not in b.current_keys()
    assert b.active.kid == a.active.kid


class _FailingStore:
    def __init__(self, inner: KeyStore) -> None:
        self.inner = inner
        self.fail = False

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def list_keys(self) -> list[StoredKey]:
        if self.fail:
            raise StorageUnavailable("down")
        return list(await self.inner.list_keys())


async def test_store_outage_keeps_the_last_known_keys(
    store: KeyStore, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    failing = _FailingStore(store)
    m = manager(failing, clock)  # type: ignore[arg-type]
    await m.load()
    keys, active = m.current_keys(), m.active_key
    failing.fail = True
    with caplog.at_level(logging.WARNING, logger="tokenward.keyring"):
        await m._safe_tick()
    assert m.current_keys() is keys and m.active_key is active
    assert any(r.getMessage() == "key_poll_failed" for r in caplog.records)


async def test_sighup_triggers_a_poll(
    store_factory: Callable[[], KeyStore], clock: FixedClock
) -> None:
    a, b = await two_instances(store_factory, clock)
    await a.rotate()
    loop = asyncio.get_running_loop()
    assert b.install_sighup(loop)
    try:
        os.kill(os.getpid(), signal.SIGHUP)
        for _ in range(10_000):  # yield until the loop has read the signal (no sleeping)
            await asyncio.sleep(0)
            if b.reloads_pending:
                break
        await b.wait_reloads()
        assert b.active.kid == a.active.kid
    finally:
        b.remove_sighup(loop)


async def test_issuer_factory_follows_the_active_key(store: KeyStore, clock: FixedClock) -> None:
    m = manager(store, clock)
    await m.load()
    current = m.issuer_factory(issuer="https://issuer.test", audience="api", lifetime=900)
    first = current()
    assert current() is first
    assert first.issue("alice").kid == m.active.kid
    await m.rotate()
    assert current() is not first
    assert current().issue("alice").kid == m.active.kid


def test_issuer_factory_over_any_key_source() -> None:
    """The module-level factory serves any object with ``active_key`` (the service's static
    HMAC key too) and writes ``client_id`` when given."""
    from tokenward import jws
    from tokenward.keys import Key

    class Static:
        active_key = Key.generate("ES256")

    source = Static()
    current = issuer_factory(
        source, issuer="https://issuer.test", audience="api", lifetime=60, client_id="cli"
    )
    first = current()
    assert current() is first
    claims = json.loads(jws.verify(first.issue("alice").token, source.active_key.public()).payload)
    assert (claims["client_id"], claims["aud"], claims["sub"]) == ("cli", "api", "alice")
    source.active_key = Key.generate("ES256")
    assert current() is not first
    assert current().issue("alice").kid == source.active_key.kid


async def test_rotation_is_a_logged_security_event(
    store: KeyStore, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    m = manager(store, clock)
    await m.load()
    with caplog.at_level(logging.WARNING, logger="tokenward.keyring"):
        await m.rotate()
    (record,) = [r for r in caplog.records if getattr(r, "event", "") == "signing_key_rotated"]
    assert record.levelno == logging.WARNING
    assert record.kid == m.active.kid  # type: ignore[attr-defined]


class _FlakyStore(_FailingStore):
    """list_keys raises ``error`` while ``fail`` is set (what a broken disk or driver does)."""

    def __init__(self, inner: KeyStore, error: BaseException) -> None:
        super().__init__(inner)
        self.error = error

    async def list_keys(self) -> list[StoredKey]:
        if self.fail:
            raise self.error
        return list(await self.inner.list_keys())


@pytest.mark.parametrize(
    "error",
    [OSError(28, "No space left on device"), RuntimeError("boom"), ValueError("kid=secret")],
    ids=["oserror", "runtime", "value"],
)
async def test_polling_loop_survives_any_error_and_picks_up_later_changes(
    store_factory: Callable[[], KeyStore],
    clock: FixedClock,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    error: BaseException,
) -> None:
    """run_polling: a tick that raises anything (not only TokenwardError) is logged by type
    and the loop keeps going; once the store recovers it converges on the rotation."""
    rotator = manager(store_factory(), clock)
    await rotator.load()
    flaky = _FlakyStore(store_factory(), error)
    m = manager(flaky, clock)  # type: ignore[arg-type]
    await m.load()
    before = m.active.kid
    await rotator.rotate()

    ticks = 0
    real_sleep = asyncio.sleep
    done = asyncio.Event()

    async def fake_sleep(delay: float) -> None:
        # The poll interval passes instantly; tick 1 fails, tick 2 sees the recovered store.
        nonlocal ticks
        if delay == POLL:
            ticks += 1
            flaky.fail = ticks == 1
            if ticks == 3:
                done.set()
        await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    with caplog.at_level(logging.WARNING, logger="tokenward.keyring"):
        task = asyncio.create_task(m.run_polling())
        waiter = asyncio.create_task(done.wait())
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        assert not task.done(), f"the polling loop died: {task.exception()!r}"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert m.active.kid == rotator.active.kid != before
    (failed,) = [r for r in caplog.records if r.getMessage() == "key_poll_failed"]
    assert failed.exc_type == type(error).__name__  # type: ignore[attr-defined]
    assert failed.levelno == logging.WARNING
    # type only: the exception's text (which could quote a key or a path) is never logged
    assert str(error.args[-1]) not in repr(vars(failed))
    assert failed.exc_info is None


async def test_key_generation_runs_off_the_event_loop_thread(
    store: KeyStore, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RSA generation (~100 ms) in load/rotate/schedule must not block the event loop."""
    loop_thread = threading.get_ident()
    threads: list[int] = []
    real = StoredKey.generate.__func__  # type: ignore[attr-defined]

    def spy(cls: type[StoredKey], alg: str, state: KeyState, *, now: float) -> StoredKey:
        threads.append(threading.get_ident())
        result: StoredKey = real(cls, alg, state, now=now)
        return result

    monkeypatch.setattr(StoredKey, "generate", classmethod(spy))
    m = manager(store, clock, rotate_every=POLL)
    await m.load()
    first = m.active.kid
    await m.rotate()
    second = m.active.kid
    clock.advance(POLL)
    assert await m.maybe_rotate()
    await m.generate()
    assert len({first, second, m.active.kid}) == 3
    assert len(threads) >= 5  # load 2, rotate 1, schedule 1, generate 1
    assert loop_thread not in threads
