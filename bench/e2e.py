"""End-to-end benchmark: what protecting a FastAPI route costs, under real HTTP load.

Each variant is the same ``GET /me`` returning a small JSON object, served by its own
uvicorn process (1 worker, uvloop + httptools, access log off, pinned to CPU 0 when the
machine has two or more CPUs) and loaded by ``wrk -t1 -c32`` pinned to CPU 1 (or, when wrk
is missing, by a bounded httpx async load generator; its figures are lower and marked).
Variants are run in interleaved, shuffled rounds; the median requests/s and p99 are kept.

Variants:
  unprotected            no authentication
  tokenward HS256/RS256  ``Authenticator.protected_router()`` (route class, no dependency)
  tokenward Depends      ``Depends(auth.current_principal)`` (the convenience API), HS256
  PyJWT (FastAPI docs)   OAuth2PasswordBearer + async ``get_current_user`` + user lookup
  AuthX                  ``Depends(auth.access_token_required)``, HS256

Before loading, a gate checks that every protected variant answers 200 to its token and
401 to a tampered one.

Then the service itself (``create_app``, dev settings on SQLite, default Argon2id) runs in
its own uvicorn process: ``POST /auth/login``, ``POST /auth/refresh`` (each connection
rotating its own family) and ``GET /me`` with a login's token, each for a bounded time
(see ``service_rows``).

    python bench/e2e.py            # full run (3 rounds x 8 s), writes the "e2e" section
    python bench/e2e.py --quick    # 1 round x 2 s, prints only
"""

import argparse
import asyncio
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
ISSUER, AUDIENCE = "https://auth.example.com", "api://orders"
HS_SECRET_HEX = "6b" * 32
UNPROTECTED = "unprotected"
TW_HS, TW_RS, TW_DEP = "tokenward HS256", "tokenward RS256", "tokenward Depends HS256"
PYJWT, AUTHX = "PyJWT (FastAPI docs) HS256", "AuthX HS256"
VARIANTS = (UNPROTECTED, TW_HS, TW_RS, TW_DEP, PYJWT, AUTHX)
#: not a /me variant: the whole service, measured by ``service_rows``
SERVICE = "tokenward service"
BODY = {"sub": "alice", "name": "Alice"}


# --- the apps (built inside the server process) --- #


def _tokenward_app(alg: str, depends: bool, env: dict[str, str]) -> Any:
    from fastapi import Depends, FastAPI, Request

    from tokenward.keys import Key
    from tokenward.validation import Principal, ValidationPolicy
    from tokenward.web import Authenticator, principal

    if alg == "HS256":
        key = Key.from_secret(bytes.fromhex(HS_SECRET_HEX), alg="HS256", kid="hs")
    else:
        key = Key.from_jwk(json.loads(env["TW_BENCH_RS_JWK"]))
    policy = ValidationPolicy(issuers=ISSUER, audiences=AUDIENCE, algorithms=(alg,))
    auth = Authenticator(key, policy)
    app = FastAPI()
    auth.install(app)
    if depends:

        @app.get("/me")
        async def me_dep(p: Principal = Depends(auth.current_principal)) -> dict[str, Any]:
            return {"sub": p.subject, "name": p.name}

        return app

    @auth.route(app, "/me")  # the route class, registered on the app like the others
    async def me(request: Request) -> dict[str, Any]:
        p = principal(request)
        return {"sub": p.subject, "name": p.name}

    return app


def _pyjwt_docs_app() -> Any:
    """The FastAPI docs' "OAuth2 with Password (and hashing), Bearer with JWT tokens"."""
    from typing import Annotated

    import jwt
    from fastapi import Depends, FastAPI, HTTPException, status
    from fastapi.security import OAuth2PasswordBearer
    from jwt.exceptions import InvalidTokenError
    from pydantic import BaseModel

    secret = bytes.fromhex(HS_SECRET_HEX)
    fake_users_db = {"alice": {"username": "alice", "full_name": "Alice", "disabled": False}}

    class User(BaseModel):
        username: str
        full_name: str | None = None
        disabled: bool | None = None

    oauth2_scheme = OAuth2PasswordBearer(tokenUrl="token")
    app = FastAPI()

    async def get_current_user(token: Annotated[str, Depends(oauth2_scheme)]) -> User:
        credentials_exception = HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="Could not validate credentials",
            headers={"WWW-Authenticate": "Bearer"},
        )
        try:
            payload = jwt.decode(
                token, secret, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER
            )
            username = payload.get("sub")
            if username is None:
                raise credentials_exception
        except InvalidTokenError:
            raise credentials_exception from None
        user = fake_users_db.get(username)
        if user is None:
            raise credentials_exception
        return User(**user)

    @app.get("/me")
    async def me(current_user: Annotated[User, Depends(get_current_user)]) -> dict[str, Any]:
        return {"sub": current_user.username, "name": current_user.full_name}

    return app


def _authx_config() -> Any:
    from authx import AuthXConfig

    return AuthXConfig(
        JWT_ALGORITHM="HS256",
        JWT_SECRET_KEY=HS_SECRET_HEX,
        JWT_TOKEN_LOCATION=["headers"],
        JWT_DECODE_AUDIENCE=AUDIENCE,
        JWT_ENCODE_AUDIENCE=AUDIENCE,
        JWT_DECODE_ISSUER=ISSUER,
        JWT_ENCODE_ISSUER=ISSUER,
    )


def _authx_app() -> Any:
    from authx import AuthX, TokenPayload
    from fastapi import Depends, FastAPI

    auth: Any = AuthX(config=_authx_config())
    app = FastAPI()
    auth.handle_errors(app)

    @app.get("/me")
    async def me(payload: TokenPayload = Depends(auth.access_token_required)) -> dict[str, Any]:
        return {"sub": payload.sub, "name": "Alice"}

    return app


def _unprotected_app() -> Any:
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/me")
    async def me() -> dict[str, Any]:
        return dict(BODY)

    return app


def _service_app(env: dict[str, str]) -> Any:
    """The tokenward service itself (dev settings: SQLite, RS256 keys, default Argon2id),
    over the data dir ``TW_BENCH_SERVICE_DIR``; the demo user's password goes to a file
    there (a throwaway temp dir) for the parent process."""
    from tokenward.service import create_app, load_settings

    data_dir = Path(env["TW_BENCH_SERVICE_DIR"])
    settings = load_settings(None, {"service": {"data_dir": str(data_dir)}}, dev=True)

    def announce(text: str) -> None:
        (data_dir / "bench-password").write_text(text.split("password: ")[1].split()[0])

    return create_app(settings, announce=announce)


def build_app(variant: str, env: dict[str, str]) -> Any:
    """The ASGI app of ``variant``."""
    factories: dict[str, Callable[[], Any]] = {
        SERVICE: lambda: _service_app(env),
        UNPROTECTED: _unprotected_app,
        TW_HS: lambda: _tokenward_app("HS256", False, env),
        TW_RS: lambda: _tokenward_app("RS256", False, env),
        TW_DEP: lambda: _tokenward_app("HS256", True, env),
        PYJWT: _pyjwt_docs_app,
        AUTHX: _authx_app,
    }
    return factories[variant]()


def serve(variant: str, port: int) -> None:
    """Child process entry point: run one variant under uvicorn."""
    import uvicorn

    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(0, {0})
    app = build_app(variant, dict(os.environ))
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        workers=1,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )


# --- tokens (made in the parent) --- #


def make_tokens(rs_jwk_private: dict[str, Any]) -> dict[str, str]:
    """One valid access token per variant (tokenward's from ``TokenIssuer``)."""
    from authx import AuthX

    from tokenward.keys import Key
    from tokenward.tokens import TokenIssuer

    hs = Key.from_secret(bytes.fromhex(HS_SECRET_HEX), alg="HS256", kid="hs")
    rs = Key.from_jwk(rs_jwk_private)
    common = {"issuer": ISSUER, "audience": AUDIENCE, "lifetime": 3600}
    hs_token = TokenIssuer(hs, **common).issue("alice", name="Alice", roles=["User"]).token  # type: ignore[arg-type]
    rs_token = TokenIssuer(rs, **common).issue("alice", name="Alice", roles=["User"]).token  # type: ignore[arg-type]
    authx: Any = AuthX(config=_authx_config())
    return {
        UNPROTECTED: hs_token,
        TW_HS: hs_token,
        TW_RS: rs_token,
        TW_DEP: hs_token,
        PYJWT: hs_token,
        AUTHX: authx.create_access_token(uid="alice"),
    }


# --- servers and load --- #


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    variant: str
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/me"


def start(variant: str, env: dict[str, str], cwd: Path | None = None) -> Server:
    port = free_port()
    cmd = [sys.executable, str(Path(__file__).resolve()), "--serve", variant, "--port", str(port)]
    process = subprocess.Popen(cmd, env=env, cwd=cwd)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{variant}: server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return Server(variant, port, process)
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{variant}: server did not start")


def stop(servers: list[Server]) -> None:
    """Terminate ``servers`` (all at once), then reap each; kill one still up after 10 s."""
    for server in servers:
        server.process.terminate()
    for server in servers:
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()


def gate(server: Server, token: str) -> None:
    """The variant must accept its token and, when protected, refuse a tampered one."""
    good = httpx.get(server.url, headers={"Authorization": f"Bearer {token}"})
    if good.status_code != 200:
        raise RuntimeError(f"{server.variant}: valid token got {good.status_code}: {good.text}")
    if server.variant != UNPROTECTED:
        head, _, sig = token.rpartition(".")
        bad = f"{head}.{'A' if sig[5] != 'A' else 'B'}{sig[:5]}{sig[6:]}"
        refused = httpx.get(server.url, headers={"Authorization": f"Bearer {bad}"})
        # AuthX answers a bad signature with 422; anything but a success is a refusal there.
        expected = {401} if server.variant.startswith("tokenward") else {401, 403, 422}
        if refused.status_code not in expected:
            raise RuntimeError(f"{server.variant}: tampered token got {refused.status_code}")


@dataclass
class Sample:
    rps: float
    p99_ms: float
    errors: int = 0
    requests: int = 0
    #: server process CPU seconds per request (None when /proc is unavailable)
    server_cpu: float | None = None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process ``pid`` (Linux ``/proc``), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def load_wrk(url: str, token: str, seconds: float, connections: int) -> Sample:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency"]
    cmd += ["-H", f"Authorization: Bearer {token}", url]
    if shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        cmd = ["taskset", "-c", "1", *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    requests = re.search(r"(\d+) requests in", out)
    return Sample(
        rps,
        _ms(*p99.groups()) if p99 else float("nan"),
        int(errors.group(1)) if errors else 0,
        int(requests.group(1)) if requests else 0,
    )


Step = Callable[[httpx.AsyncClient, int], Awaitable[bool]]


def load_flow(
    step: Step, seconds: float, connections: int, *, headers: dict[str, str] | None = None
) -> Sample:
    """Bounded async load: ``connections`` workers call ``step(client, worker)`` (one
    request, True when it succeeded) on keep-alive connections for ``seconds``."""

    async def run() -> Sample:
        latencies: list[float] = []
        errors = 0
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        async with httpx.AsyncClient(limits=limits, headers=headers, timeout=30) as client:
            end = time.perf_counter() + seconds

            async def worker(number: int) -> None:
                nonlocal errors
                while (start := time.perf_counter()) < end:
                    ok = await step(client, number)
                    latencies.append(time.perf_counter() - start)
                    errors += not ok

            began = time.perf_counter()
            await asyncio.gather(*(worker(n) for n in range(connections)))
            elapsed = time.perf_counter() - began
        latencies.sort()
        p99 = (
            latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000 if latencies else float("nan")
        )
        return Sample(len(latencies) / elapsed, p99, errors, len(latencies))

    return asyncio.run(run())


def load_httpx(url: str, token: str, seconds: float, connections: int) -> Sample:
    """Fallback load generator for ``GET url`` with a bearer token (see :func:`load_flow`)."""

    async def get(client: httpx.AsyncClient, _: int) -> bool:
        return (await client.get(url)).status_code == 200

    return load_flow(get, seconds, connections, headers={"Authorization": f"Bearer {token}"})


@dataclass
class Report:
    tool: str
    rounds: int
    seconds: float
    samples: dict[str, list[Sample]] = field(default_factory=dict)
    #: in-process ASGI cost per request (microseconds, min over samples)
    asgi_us: dict[str, float] = field(default_factory=dict)
    #: 1-minute load average when the run started (other work on the machine skews req/s)
    load_average: float = field(default_factory=lambda: os.getloadavg()[0])

    def rps(self, variant: str) -> float:
        return statistics.median(s.rps for s in self.samples[variant])

    def p99(self, variant: str) -> float:
        return statistics.median(s.p99_ms for s in self.samples[variant])

    def rps_ratio(self, variant: str, other: str) -> float:
        return self.rps(variant) / self.rps(other)

    def capacity_ratio(self, variant: str, other: str) -> float:
        """How many more requests one CPU second serves with ``variant`` than ``other``."""
        return self.server_cpu_us(other) / self.server_cpu_us(variant)

    def server_cpu_us(self, variant: str) -> float:
        values = [s.server_cpu for s in self.samples[variant] if s.server_cpu is not None]
        return statistics.median(values) * 1e6 if values else float("nan")


def asgi_costs(
    variants: tuple[str, ...], tokens: dict[str, str], env: dict[str, str], *, samples: int
) -> dict[str, float]:
    """Per-request cost of each app called in-process through ASGI (no sockets, no HTTP
    parsing), in CPU time of this process (other processes on the machine do not count),
    minimum over interleaved samples. It isolates what the protection adds on top of
    FastAPI's own routing."""
    apps = {variant: build_app(variant, env) for variant in variants}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def measure() -> dict[str, float]:
        statuses: list[int] = []

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        def scope(variant: str) -> dict[str, Any]:
            auth = b"Bearer " + tokens[variant].encode()
            return {
                "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                "method": "GET", "scheme": "http", "path": "/me", "raw_path": b"/me",
                "query_string": b"", "root_path": "", "client": ("127.0.0.1", 9),
                "server": ("127.0.0.1", 80),
                "headers": [(b"host", b"127.0.0.1"), (b"authorization", auth)],
            }  # fmt: skip

        best = dict.fromkeys(variants, float("inf"))
        batch = 400
        for number in range(samples + 1):  # the first pass warms up
            for variant in variants:
                app, template = apps[variant], scope(variant)
                start = time.process_time()
                for _ in range(batch):
                    await app(dict(template), receive, send)
                cost = (time.process_time() - start) / batch
                if number:
                    best[variant] = min(best[variant], cost)
        if set(statuses) != {200}:
            raise RuntimeError(f"in-process calls answered {sorted(set(statuses))}")
        return best

    return asyncio.run(measure())


def argon2_cost(samples: int = 5) -> tuple[str, float]:
    """The service's default Argon2id parameters and one verification's time (ms, median)."""
    from tokenward.sessions import PasswordHasher
    from tokenward.sessions.passwords import DEFAULT_PARAMETERS as P

    hasher = PasswordHasher()
    stored = hasher.hash("bench password 1234")
    times = []
    for _ in range(samples):
        began = time.perf_counter()
        hasher.verify(stored, "bench password 1234")
        times.append(time.perf_counter() - began)
    label = f"Argon2id m={P.memory_cost} KiB, t={P.time_cost}, p={P.parallelism}"
    return label, statistics.median(times) * 1000


@dataclass
class ServiceResult:
    """One endpoint of the service under load."""

    endpoint: str
    connections: int
    sample: Sample
    tool: str


def _measured(server: Server, run_load: Callable[[], Sample]) -> Sample:
    """``run_load()`` against ``server``, with the server's CPU seconds per request; any
    failed request is an error."""
    before = cpu_seconds(server.process.pid)
    sample = run_load()
    after = cpu_seconds(server.process.pid)
    if before is not None and after is not None and sample.requests:
        sample.server_cpu = (after - before) / sample.requests
    if sample.errors:
        raise RuntimeError(f"{server.variant}: {sample.errors} failed requests")
    return sample


def measure_service(
    server: Server, password: str, load: Callable[[str, str, float, int], Sample], seconds: float
) -> list[ServiceResult]:
    """Gate, then load ``/auth/login``, ``/auth/refresh`` and ``/me`` of a running service."""
    base = f"http://127.0.0.1:{server.port}"
    creds = {"username": "alice", "password": password}

    def login_now() -> dict[str, Any]:
        response = httpx.post(f"{base}/auth/login", json=creds, timeout=30)
        if response.status_code != 200:
            raise RuntimeError(f"service: login got {response.status_code}: {response.text}")
        body: dict[str, Any] = response.json()
        return body

    access = login_now()["access_token"]
    gate(server, access)  # /me: 200 with the token, 401 tampered

    async def login(client: httpx.AsyncClient, _: int) -> bool:
        return (await client.post(f"{base}/auth/login", json=creds)).status_code == 200

    refresh_connections = 8
    chains = [login_now()["refresh_token"] for _ in range(refresh_connections)]

    async def refresh(client: httpx.AsyncClient, worker: int) -> bool:
        # each worker rotates its own family: a reused token would revoke it (and fail)
        response = await client.post(f"{base}/auth/refresh", json={"refresh_token": chains[worker]})
        if response.status_code != 200:
            return False
        chains[worker] = response.json()["refresh_token"]
        return True

    tool = "wrk" if load is load_wrk else "httpx"
    return [
        ServiceResult(
            "POST /auth/login", 4, _measured(server, lambda: load_flow(login, seconds, 4)), "httpx"
        ),
        ServiceResult(
            "POST /auth/refresh",
            refresh_connections,
            _measured(server, lambda: load_flow(refresh, seconds, refresh_connections)),
            "httpx",
        ),
        ServiceResult(
            "GET /me", 32, _measured(server, lambda: load(server.url, access, seconds, 32)), tool
        ),
    ]


def render_service(
    results: list[ServiceResult], hashing: tuple[str, float], seconds: float
) -> list[str]:
    label, verify_ms = hashing
    lines = [
        "",
        "### The tokenward service itself (SQLite)",
        "",
        f"`create_app` with dev settings (SQLite file, RS256 keys, access-token revocation "
        f"checked on every request), uvicorn 1 worker pinned like above; {seconds:g} s per "
        f"endpoint, one run each. Passwords: {label} (RFC 9106 low-memory profile, the "
        f"default); one verification takes {verify_ms:.0f} ms (wall) here, so login "
        "throughput is bounded by hashing by design.",
        "",
        "| endpoint | load | connections | req/s | p99 ms | server CPU ms/req |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in results:
        cpu = r.sample.server_cpu
        lines.append(
            f"| {r.endpoint} | {r.tool} | {r.connections} | {r.sample.rps:.0f} | "
            f"{r.sample.p99_ms:.1f} | {'n/a' if cpu is None else f'{cpu * 1000:.2f}'} |"
        )
    lines.append(
        "/auth/refresh: each connection rotates its own session family (consume + insert "
        "in one transaction); /me: a login's RS256 access token, validated and checked "
        "against the revocation tables."
    )
    return lines


def service_rows(
    load: Callable[[str, str, float, int], Sample], *, quick: bool, seconds: float | None = None
) -> list[str]:
    """The service's own throughput: ``/auth/login`` (Argon2id cost stated),
    ``/auth/refresh`` and ``/me`` on SQLite, as Markdown lines for the e2e section.

    Bounded: ``seconds`` per endpoint (default 2 with ``quick``, else 5), in a throwaway
    data dir that is deleted afterwards.
    """
    import tempfile

    budget = seconds if seconds is not None else (2.0 if quick else 5.0)
    hashing = argon2_cost()
    with tempfile.TemporaryDirectory(prefix="tokenward-bench-") as tmp:
        data_dir = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith("TOKENWARD__")}
        env["TW_BENCH_SERVICE_DIR"] = str(data_dir)
        server = start(SERVICE, env, cwd=data_dir)  # cwd: no stray ./tokenward.toml
        try:
            password = (data_dir / "bench-password").read_text()
            results = measure_service(server, password, load, budget)
        finally:
            stop([server])
    for r in results:
        print(
            f"service {r.endpoint:20} {r.sample.rps:9.0f} req/s p99 {r.sample.p99_ms:6.2f} ms",
            file=sys.stderr,
        )
    return render_service(results, hashing, budget)


def run(variants: tuple[str, ...], *, rounds: int, seconds: float, connections: int) -> Report:
    from tokenward.keys import Key

    rs = Key.generate("RS256", kid="rs")
    env = {**os.environ, "TW_BENCH_RS_JWK": json.dumps(rs.public().to_jwk())}
    tokens = make_tokens(rs.to_jwk(private=True))
    use_wrk = shutil.which("wrk") is not None
    load = load_wrk if use_wrk else load_httpx
    report = Report("wrk" if use_wrk else "httpx (fallback)", rounds, seconds)
    report.asgi_us = {
        v: c * 1e6 for v, c in asgi_costs(variants, tokens, env, samples=3 + 2 * rounds).items()
    }
    servers = {variant: start(variant, env) for variant in variants}
    try:
        for variant, server in servers.items():
            gate(server, tokens[variant])
            load(server.url, tokens[variant], min(1.0, seconds), connections)  # warm-up
        order = list(variants)
        shuffler = random.Random(20261201)
        for number in range(rounds):
            shuffler.shuffle(order)
            for variant in order:
                server = servers[variant]
                run_load = partial(load, server.url, tokens[variant], seconds, connections)
                sample = _measured(server, run_load)
                report.samples.setdefault(variant, []).append(sample)
                print(
                    f"round {number + 1}/{rounds} {variant:28} {sample.rps:9.0f} req/s "
                    f"p99 {sample.p99_ms:6.2f} ms",
                    file=sys.stderr,
                )
    finally:
        stop(list(servers.values()))
    return report


def render(report: Report, extra: list[str]) -> str:
    import fastapi
    import uvicorn

    base = report.rps(UNPROTECTED) if UNPROTECTED in report.samples else float("nan")
    lines = [
        "## e2e",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; Python "
        f"{platform.python_version()}, FastAPI {fastapi.__version__}, uvicorn "
        f"{uvicorn.__version__} (1 worker, uvloop, httptools, no access log), "
        f"{os.cpu_count()} CPUs; load: {report.tool}, 1 thread, 32 connections, "
        f"{report.rounds} interleaved rounds x {report.seconds:g} s; medians. Load average "
        f"at start: {report.load_average:.1f} (other processes on the machine lower req/s).",
        "",
        "| GET /me protected by | req/s | vs unprotected | p99 ms | server busy | "
        "server CPU us/req | vs unprotected | in-process us/req | vs unprotected |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    asgi_base = report.asgi_us.get(UNPROTECTED, float("nan"))
    cpu_base = report.server_cpu_us(UNPROTECTED)
    for variant in VARIANTS:
        if variant in report.samples:
            rps = report.rps(variant)
            cost = report.asgi_us.get(variant, float("nan"))
            cpu = report.server_cpu_us(variant)
            lines.append(
                f"| {variant} | {rps:.0f} | {rps / base:.2f} | {report.p99(variant):.2f} | "
                f"{rps * cpu / 1e6:.0%} | {cpu:.0f} | {cpu_base / cpu:.2f} | {cost:.1f} | "
                f"{asgi_base / cost:.2f} |"
            )
    lines += [
        "",
        "Server CPU: CPU time the uvicorn process spent per request under load (from "
        "/proc), which other load on the machine does not inflate; its ratio is the "
        "capacity ratio. Server busy = req/s x CPU per request: below ~100 % the server "
        "was not the bottleneck (the load generator or a busy machine was), which "
        "compresses the req/s ratios towards 1; the capacity ratio is what a saturated "
        "server shows.",
        "In-process: the app called directly through ASGI (no socket, no HTTP parsing), "
        "process CPU time, minimum over interleaved samples; the ratio is a throughput ratio.",
        "",
    ]
    for tw in (TW_HS, TW_RS):
        if tw not in report.samples:
            continue
        checks = [(UNPROTECTED, 0.80), (PYJWT, 1.7), (AUTHX, 3.0)]
        for label, ratio_of in (
            ("req/s", report.rps_ratio),
            ("server CPU capacity", report.capacity_ratio),
        ):
            parts = []
            for other, target in checks:
                if other in report.samples:
                    ratio = ratio_of(tw, other)
                    verdict = "met" if ratio >= target else "NOT met"
                    parts.append(f"{ratio:.2f}x {other} (target {target}x: {verdict})")
            lines.append(f"- {tw}, {label}: " + "; ".join(parts))
    return "\n".join(lines + extra) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 short round, writes nothing")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--seconds", type=float, default=None, help="per load run (max 30)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated")
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.port)
        return 0
    # Turn SIGTERM into SystemExit so the servers are stopped in run()'s finally.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    variants = tuple(v for v in VARIANTS if v in args.variants.split(","))
    if UNPROTECTED not in variants:
        parser.error("the unprotected baseline is required")
    rounds = max(1, min(args.rounds or (1 if args.quick else 3), 10))
    seconds = max(1.0, min(args.seconds or (2.0 if args.quick else 8.0), 30.0))
    report = run(variants, rounds=rounds, seconds=seconds, connections=args.connections)
    load = load_wrk if report.tool == "wrk" else load_httpx
    text = render(report, service_rows(load, quick=args.quick))
    print(text)
    if not args.quick:
        from _harness import write_section

        write_section(args.output, text, name="e2e")
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
