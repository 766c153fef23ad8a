"""Sessions benchmark: refresh rotations, revocation checks and logins.

* Rotations: C concurrent clients (1, 8, 32), each with its own session, refresh in a loop
  through ``AuthService.refresh`` (full flow: parse, one read of the token with its user
  and its session/subject denylist entries, atomic rotate, access-token signing with ES256).
  Reported: rotations/s, p50/p99 latency, SQL statements per refresh and inside
  ``RefreshStore.rotate``, and an integrity check (every chain unbroken: no lost or
  duplicated rotation).
* Revocation checks: ``AuthService.revocation_check.is_revoked`` on memory, Redis and SQL
  with 1,000 revoked jtis present, sequential calls, p50/p99.
* Logins: ``AuthService.login`` with the default Argon2id parameters, sequential and 8
  concurrent (hashing runs in worker threads), p50/p99.

    python bench/sessions.py            # full run, writes bench/RESULTS.md (section "sessions")
    python bench/sessions.py --quick    # smoke run: short, nothing written

PostgreSQL and Redis come from the same environment variables as the tests
(TOKENWARD_TEST_PG_HOST ... ); an unreachable server is reported and skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import write_section

from tokenward.keys import Key
from tokenward.sessions import (
    AuthService,
    LoginThrottle,
    PasswordHasher,
    SessionConfig,
    revocation_check_for,
)
from tokenward.storage.memory import MemoryStore
from tokenward.tokens import TokenIssuer

PG = (
    os.environ.get("TOKENWARD_TEST_PG_USER", "postgres"),
    os.environ.get("TOKENWARD_TEST_PG_HOST", "127.0.0.1"),
    int(os.environ.get("TOKENWARD_TEST_PG_PORT", "5432")),
    os.environ.get("TOKENWARD_TEST_PG_DB", "test"),
)
REDIS = (
    os.environ.get("TOKENWARD_TEST_REDIS_HOST", "127.0.0.1"),
    int(os.environ.get("TOKENWARD_TEST_REDIS_PORT", "6379")),
)
PASSWORD = "correct horse battery staple"


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def load_average() -> str:
    try:
        return " / ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ms(seconds: float) -> str:
    value = seconds * 1000
    return f"{value:.3f}" if value < 1 else f"{value:.2f}" if value < 10 else f"{value:.1f}"


# --- stores --- #


@dataclass
class Backend:
    name: str
    store: Any
    statements: list[str]  # every SQL statement executed (empty for non-SQL)


@asynccontextmanager
async def sql_backend(name: str, *, pool_size: int = 40) -> AsyncIterator[Backend]:
    import sqlalchemy as sa

    from tokenward.storage.sql import (
        SqlStore,
        create_engine,
        create_schema,
        drop_schema,
        upgrade_database,
    )

    schema: str | None = None
    with tempfile.TemporaryDirectory() as tmp:
        if name == "sqlite":
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        else:
            user, host, port, db = PG
            url = f"postgresql+asyncpg://{user}@{host}:{port}/{db}"
            schema = f"tw_bench_{uuid.uuid4().hex[:10]}"
            await create_schema(url, schema)
        engine = None
        try:
            await upgrade_database(url, schema=schema)
            kwargs = {} if name == "sqlite" else {"pool_size": pool_size, "max_overflow": 8}
            engine = create_engine(url, schema=schema, **kwargs)
            statements: list[str] = []

            @sa.event.listens_for(engine.sync_engine, "before_cursor_execute")
            def _count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
                statements.append(statement)

            yield Backend(name, SqlStore(engine), statements)
        finally:
            if engine is not None:
                await engine.dispose()
            if schema is not None:
                await drop_schema(url, schema)


def make_service(store: Any, hasher: PasswordHasher | None = None) -> AuthService:
    key = Key.generate("ES256")
    issuer = TokenIssuer(key, issuer="https://bench", audience="api", lifetime=600)
    return AuthService(
        users=store,
        refresh=store,
        revocations=store,
        throttle=LoginThrottle.memory(),
        issuer=lambda: issuer,
        hasher=hasher or PasswordHasher.for_testing(),
        config=SessionConfig(),
    )


# --- rotations --- #


@dataclass
class RotationResult:
    backend: str
    clients: int
    rotations: int
    seconds: float
    p50: float
    p99: float
    statements_per_refresh: float
    statements_per_rotate: float
    intact: bool


async def bench_rotations(backend: Backend, clients: int, per_client: int) -> RotationResult:
    service = make_service(backend.store)
    users = [
        await service.create_user(f"u{clients}-{i}-{uuid.uuid4().hex[:6]}", PASSWORD)
        for i in range(clients)
    ]
    pairs = [await service.start_session(u) for u in users]
    # statements inside rotate(): measured once, sequentially
    rotate_statements = 0.0
    original = backend.store.rotate

    async def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal rotate_statements
        before = len(backend.statements)
        result = await original(*args, **kwargs)
        rotate_statements = len(backend.statements) - before
        return result

    backend.store.rotate = counted
    pairs[0] = await service.refresh(pairs[0].refresh_token)
    backend.store.rotate = original
    latencies: list[float] = []

    async def client(index: int) -> None:
        pair = pairs[index]
        for _ in range(per_client):
            start = time.perf_counter()
            pair = await service.refresh(pair.refresh_token)
            latencies.append(time.perf_counter() - start)
        pairs[index] = pair

    before = len(backend.statements)
    start = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(clients)))
    elapsed = time.perf_counter() - start
    total = clients * per_client
    statements = (len(backend.statements) - before) / total
    intact = await check_chains(backend.store, users, pairs, service)
    return RotationResult(
        backend.name,
        clients,
        total,
        elapsed,
        pct(latencies, 0.5),
        pct(latencies, 0.99),
        statements,
        rotate_statements,
        intact,
    )


async def check_chains(
    store: Any, users: list[Any], pairs: list[Any], service: AuthService
) -> bool:
    """Each session is one unbroken chain: one live head, every other token consumed once
    and replaced by exactly its child."""
    for user, pair in zip(users, pairs, strict=True):
        records = {r.id: r for r in await store.list_user_refresh(user.id)}
        head = await service.refresh_info(pair.refresh_token)
        if head is None or head.used_at is not None or head.revoked_at is not None:
            return False
        live = [r for r in records.values() if r.used_at is None]
        children: dict[str, int] = {}
        for r in records.values():
            if r.parent_id is not None:
                children[r.parent_id] = children.get(r.parent_id, 0) + 1
        if len(live) != 1 or any(n != 1 for n in children.values()):
            return False
        if any(
            r.replaced_by is None or r.replaced_by not in records
            for r in records.values()
            if r.used_at is not None
        ):
            return False
    return True


# --- revocation checks --- #


async def bench_revocation(name: str, store: Any, calls: int) -> tuple[str, float, float]:
    check = revocation_check_for(store)  # what AuthService.revocation_check is
    now = time.time()
    for i in range(1000):
        await store.revoke_jti("https://bench", f"jti-{i}", expires_at=now + 3600)
    await store.revoke_session("sid-revoked", expires_at=now + 3600)
    latencies: list[float] = []
    for i in range(calls):
        start = time.perf_counter()
        revoked = await check.is_revoked(
            issuer="https://bench", jti=f"jti-{i % 2000}", sid="sid-live", sub="user", iat=now
        )
        latencies.append(time.perf_counter() - start)
        assert revoked == (i % 2000 < 1000)
    return name, pct(latencies, 0.5), pct(latencies, 0.99)


# --- logins --- #


async def bench_login(attempts: int, concurrency: int) -> tuple[int, float, float, float]:
    hasher = PasswordHasher()
    service = make_service(MemoryStore(), hasher=hasher)
    await service.create_user("bench-user", PASSWORD)
    latencies: list[float] = []

    async def one() -> None:
        start = time.perf_counter()
        await service.login("bench-user", PASSWORD)
        latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    for _ in range(max(1, attempts // concurrency)):
        await asyncio.gather(*(one() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    return concurrency, pct(latencies, 0.5), pct(latencies, 0.99), len(latencies) / elapsed


# --- driver --- #


async def run(quick: bool) -> str:
    per_client = {1: 40, 8: 10, 32: 4} if quick else {1: 1000, 8: 250, 32: 80}
    lines: list[str] = []
    rotations: list[RotationResult] = []
    skipped: list[str] = []
    sql_names = ["sqlite"]
    if reachable(PG[1], PG[2]):
        sql_names.append("postgres")
    else:
        skipped.append("PostgreSQL unreachable: rotation and SQL revocation rows skipped")
    for name in sql_names:
        async with sql_backend(name) as backend:
            for clients in (1, 8, 32):
                rotations.append(await bench_rotations(backend, clients, per_client[clients]))
                print(f"rotations {name} x{clients}: done", file=sys.stderr)
    memory = Backend("memory", MemoryStore(), [])
    memory_rot = await bench_rotations(memory, 1, per_client[1])
    calls = 200 if quick else 5000
    revocation = [await bench_revocation("memory", MemoryStore(), calls)]
    if reachable(*REDIS):
        import redis.asyncio as aioredis

        from tokenward.clock import SystemClock
        from tokenward.storage.redis import RedisRevocationStore

        client = aioredis.Redis(host=REDIS[0], port=REDIS[1])
        prefix = f"tw_bench_{uuid.uuid4().hex[:8]}:"
        store = RedisRevocationStore(client, key_prefix=prefix, clock=SystemClock())
        try:
            await store.rebuild_from(MemoryStore())  # empty durable source: marks it ready
            revocation.append(await bench_revocation("redis", store, calls))
        finally:
            await store.clear()
            await client.aclose()
    else:
        skipped.append("Redis unreachable: Redis revocation row skipped")
    for name in sql_names:
        async with sql_backend(name) as backend:
            revocation.append(await bench_revocation(name, backend.store, calls))
    logins = [await bench_login(8 if quick else 100, 1), await bench_login(8 if quick else 96, 8)]

    lines += [
        "## sessions",
        "",
        f"`python bench/sessions.py` on {platform.python_implementation()} "
        f"{platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs; "
        f"load average {load_average()} at the end of the run (other work on the machine "
        "inflates latencies). PostgreSQL and Redis on 127.0.0.1. One process, one event "
        "loop. A refresh is the full "
        "`AuthService.refresh` flow (parse, one `RefreshStore.load_refresh_context` read of the "
        "token, its user and its session/subject denylist entries, constant-time digest "
        "compare, one atomic `RefreshStore.rotate`, ES256 access token). Passwords for the "
        "rotation users use cheap test parameters (not timed).",
        "",
        "### Refresh rotations",
        "",
        "| backend | clients | rotations | rotations/s | p50 ms | p99 ms "
        "| SQL stmts / refresh | SQL stmts in rotate | chains intact |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in [*rotations, memory_rot]:
        stmts = f"{r.statements_per_refresh:.1f}" if r.backend != "memory" else "-"
        rot = f"{r.statements_per_rotate:.0f}" if r.backend != "memory" else "-"
        lines.append(
            f"| {r.backend} | {r.clients} | {r.rotations} | {r.rotations / r.seconds:.0f} | "
            f"{ms(r.p50)} | {ms(r.p99)} | {stmts} | {rot} | {'yes' if r.intact else 'NO'} |"
        )
    lines += [
        "",
        "SQL statements are counted with a `before_cursor_execute` hook. On SQLite they "
        "include the explicit `BEGIN`/`BEGIN IMMEDIATE` (the commit is a driver call, not a "
        "counted statement). On PostgreSQL the SQL store "
        "runs single statements in autocommit, so each counted statement is one round trip: "
        "a refresh reads the token with its user and denylist entries in one statement and "
        "rotates in one conditional statement: 2 round trips (issue 3 target: at most 2; "
        "`tests/storage/test_round_trips.py` counts them on the wire, with and without a "
        "Redis revocation cache, which the refresh path does not call).",
        "",
        "### Revocation check (`AuthService.revocation_check.is_revoked`, 1,000 jtis revoked)",
        "",
        "| backend | p50 ms | p99 ms |",
        "|---|---:|---:|",
        *(f"| {name} | {ms(p50)} | {ms(p99)} |" for name, p50, p99 in revocation),
        "",
        "### Login (`AuthService.login`; Argon2id m=65536 KiB, t=3, p=4, "
        "the RFC 9106 low-memory profile)",
        "",
        "| concurrent logins | p50 ms | p99 ms | logins/s |",
        "|---:|---:|---:|---:|",
        *(f"| {c} | {ms(p50)} | {ms(p99)} | {rate:.1f} |" for c, p50, p99, rate in logins),
    ]
    if skipped:
        lines += ["", *(f"- {s}" for s in skipped)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run, writes nothing")
    parser.add_argument("--output", type=Path, default=Path(__file__).with_name("RESULTS.md"))
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    text = asyncio.run(run(args.quick))
    print(text)
    if not args.quick:
        write_section(args.output, text, name="sessions")
        print(f"\nwrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
