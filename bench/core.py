"""Core benchmark: sign and verify+validate with tokenward, its peers and a stdlib floor.

One process, interleaved shuffled rounds (see ``_harness.py``). Every implementation signs
and validates the same realistic access token (iss, aud, sub, name, jti, roles[2], tenant,
iat, nbf, exp; header alg, typ ``at+jwt``, kid) and checks iss, aud and exp. Before timing,
a correctness gate makes each verifier accept that token and reject a forged signature, a
wrong aud, a wrong iss, an expired token and a token without exp.

    python bench/core.py            # full run, writes bench/RESULTS.md (section "core")
    python bench/core.py --quick    # smoke run: few short rounds, nothing written
"""

from __future__ import annotations

import argparse
import base64
import functools
import hmac
import json
import os
import platform
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import Stats, fmt_us, run_cells, write_section
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

ALGS = ("HS256", "RS256", "PS256", "ES256", "EdDSA")
ISS, AUD, KID = "https://auth.example.com", "api://orders", "bench-key-1"
PEERS = ("PyJWT", "joserfc", "authlib.jose", "python-jose", "jwcrypto")
TW, TW_CACHED, FLOOR, PRIMITIVE = "tokenward", "tokenward (cached)", "floor (stdlib)", "primitive"
#: sign only: ``jws.sign`` of claims already serialised, to separate the JOSE layer's cost
#: (header, base64url, signature encoding) from serialising the claims
TW_JWS = "tokenward (jws.sign)"
Verify = Callable[[str], Any]


def b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_claims(now: float, **changes: Any) -> dict[str, Any]:
    iat = int(now)
    claims: dict[str, Any] = {
        "iss": ISS,
        "aud": AUD,
        "sub": "5f0c8a7e2d3b4c1a9e8f7d6c5b4a3921",
        "name": "Ada Lovelace",
        "jti": "c0f2d6f1f0b54f4c8e36a1c7f0b2d9e1",
        "roles": ["orders:read", "orders:write"],
        "tenant": "contoso",
        "iat": iat,
        "nbf": iat,
        "exp": iat + 3600,
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


# --- keys and the stdlib floor --- #


@dataclass
class Crypto:
    """Raw key material and minimal sign/verify primitives for one algorithm."""

    alg: str
    private: Any
    public: Any
    sign: Callable[[bytes], bytes]
    verify: Callable[[bytes, bytes], bool]
    private_pem: bytes = b""
    public_pem: bytes = b""
    secret: bytes = b""


def make_crypto(alg: str) -> Crypto:
    if alg == "HS256":
        secret = os.urandom(32)

        def hs_sign(si: bytes) -> bytes:
            return hmac.digest(secret, si, "sha256")

        def hs_verify(si: bytes, sig: bytes) -> bool:
            return hmac.compare_digest(hmac.digest(secret, si, "sha256"), sig)

        return Crypto(alg, secret, secret, hs_sign, hs_verify, secret=secret)
    if alg in ("RS256", "PS256"):
        private: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pad: Any = (
            padding.PKCS1v15()
            if alg == "RS256"
            else padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        )

        def sign(si: bytes) -> bytes:
            return private.sign(si, pad, hashes.SHA256())  # type: ignore[no-any-return]

        def verify(si: bytes, sig: bytes) -> bool:
            public.verify(sig, si, pad, hashes.SHA256())
            return True

    elif alg == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
        algo = ec.ECDSA(hashes.SHA256())

        def sign(si: bytes) -> bytes:
            r, s = decode_dss_signature(private.sign(si, algo))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")

        def verify(si: bytes, sig: bytes) -> bool:
            if len(sig) != 64:
                return False
            der = encode_dss_signature(
                int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
            )
            public.verify(der, si, algo)
            return True

    else:
        private = ed25519.Ed25519PrivateKey.generate()

        def sign(si: bytes) -> bytes:
            return private.sign(si)  # type: ignore[no-any-return]

        def verify(si: bytes, sig: bytes) -> bool:
            public.verify(sig, si)
            return True

    public = private.public_key()
    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return Crypto(alg, private, public, sign, verify, private_pem, public_pem)


def floor_signer(
    c: Crypto, header: dict[str, Any] | None = None
) -> Callable[[dict[str, Any]], str]:
    """Minimal JWS signing: compact JSON, base64url, one primitive call."""
    head = b64e(json.dumps(header or {"alg": c.alg, "typ": "at+jwt", "kid": KID}).encode()) + "."
    sign = c.sign

    def encode(claims: dict[str, Any]) -> str:
        si = head + b64e(json.dumps(claims, separators=(",", ":")).encode())
        return si + "." + b64e(sign(si.encode("ascii")))

    return encode


def floor_verifier(c: Crypto) -> Verify:
    """Minimal verify + iss/aud/exp check (does not parse the header, like the peer study)."""
    verify, urlsafe = c.verify, base64.urlsafe_b64decode

    def decode(token: str) -> dict[str, Any]:
        si, _, s64 = token.rpartition(".")
        p64 = si[si.index(".") + 1 :]
        if not verify(si.encode("ascii"), urlsafe(s64 + "=" * (-len(s64) % 4))):
            raise ValueError("bad signature")
        claims: dict[str, Any] = json.loads(urlsafe(p64 + "=" * (-len(p64) % 4)))
        aud = claims["aud"]
        if claims["iss"] != ISS or (aud != AUD and not (type(aud) is list and AUD in aud)):
            raise ValueError("bad iss/aud")
        if time.time() >= claims["exp"]:
            raise ValueError("expired")
        return claims

    return decode


# --- implementations --- #


@dataclass
class Impl:
    verify: Verify | None = None
    sign: Callable[[dict[str, Any]], str] | None = None


def tokenward_impls(c: Crypto) -> tuple[Impl, Verify, Callable[[bytes], str]]:
    from tokenward import jws
    from tokenward import keys as twkeys
    from tokenward.tokens import TokenIssuer
    from tokenward.validation import TokenValidator, ValidationPolicy

    if c.alg == "HS256":
        key = twkeys.Key.from_secret(c.secret, alg="HS256", kid=KID)
        public = key
    else:
        key = twkeys.Key.from_pem(c.private_pem, alg=c.alg, kid=KID)
        public = key.public()
    policy = ValidationPolicy(issuers=ISS, audiences=AUD, algorithms=(c.alg,))
    uncached = TokenValidator(public, policy, cache_size=0)
    cached = TokenValidator(public, policy)
    issuer = TokenIssuer(key, issuer=ISS, audience=AUD, lifetime=3600)

    def sign(claims: dict[str, Any]) -> str:
        return issuer.issue(
            claims["sub"], name=claims["name"], roles=claims["roles"], claims={"tenant": "contoso"}
        ).token

    def jws_sign(payload: bytes) -> str:
        return jws.sign(payload, key, header={"typ": "at+jwt"})

    return Impl(uncached.validate, sign), cached.validate, jws_sign


def pyjwt_impl(c: Crypto) -> Impl:
    import jwt

    alg, headers = c.alg, {"kid": KID, "typ": "at+jwt"}
    options: Any = {"require": ["exp", "iss", "aud"]}

    def verify(token: str) -> Any:
        return jwt.decode(
            token, c.public, algorithms=[alg], audience=AUD, issuer=ISS, options=options
        )

    def sign(claims: dict[str, Any]) -> str:
        return jwt.encode(claims, c.private, algorithm=alg, headers=headers)

    return Impl(verify, sign)


def joserfc_impl(c: Crypto) -> Impl:
    from joserfc import jwt
    from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey

    kind: Any = {"HS256": OctKey, "ES256": ECKey, "EdDSA": OKPKey}.get(c.alg, RSAKey)
    if c.alg == "HS256":
        private = public = kind.import_key(c.secret)
    else:
        private, public = kind.import_key(c.private_pem), kind.import_key(c.public_pem)
    registry = jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": ISS},
        aud={"essential": True, "value": AUD},
        exp={"essential": True},
    )
    algs, header = [c.alg], {"alg": c.alg, "typ": "at+jwt", "kid": KID}

    def verify(token: str) -> Any:
        tok = jwt.decode(token, public, algorithms=algs)
        registry.validate(tok.claims)
        return tok.claims

    def sign(claims: dict[str, Any]) -> str:
        return jwt.encode(header, claims, private, algorithms=algs)

    return Impl(verify, sign)


def authlib_impl(c: Crypto) -> Impl:
    from authlib.jose import JsonWebKey, JsonWebToken

    jwt = JsonWebToken([c.alg])
    if c.alg == "HS256":
        private: Any = c.secret
        public: Any = c.secret
    else:
        private, public = JsonWebKey.import_key(c.private_pem), JsonWebKey.import_key(c.public_pem)
    options = {
        "iss": {"essential": True, "value": ISS},
        "aud": {"essential": True, "value": AUD},
        "exp": {"essential": True},
    }
    header = {"alg": c.alg, "typ": "at+jwt", "kid": KID}

    def verify(token: str) -> Any:
        claims = jwt.decode(token, public, claims_options=options)
        claims.validate()
        return claims

    def sign(claims: dict[str, Any]) -> str:
        return jwt.encode(header, claims, private).decode("ascii")  # type: ignore[no-any-return]

    return Impl(verify, sign)


def python_jose_impl(c: Crypto) -> Impl | None:
    if c.alg not in ("HS256", "RS256", "ES256"):
        return None
    from jose import jwk, jwt

    if c.alg == "HS256":
        private = public = jwk.construct(c.secret, c.alg)
    else:
        private = jwk.construct(c.private_pem, c.alg)
        public = jwk.construct(c.public_pem, c.alg)
    algs, headers = [c.alg], {"kid": KID, "typ": "at+jwt"}
    options = {"require_exp": True, "require_iss": True, "require_aud": True}

    def verify(token: str) -> Any:
        return jwt.decode(token, public, algorithms=algs, audience=AUD, issuer=ISS, options=options)

    def sign(claims: dict[str, Any]) -> str:
        return jwt.encode(claims, private, algorithm=c.alg, headers=headers)  # type: ignore[no-any-return]

    return Impl(verify, sign)


def jwcrypto_impl(c: Crypto) -> Impl:
    from jwcrypto import jwk, jwt

    if c.alg == "HS256":
        private = public = jwk.JWK(kty="oct", k=b64e(c.secret))
    else:
        private, public = jwk.JWK.from_pem(c.private_pem), jwk.JWK.from_pem(c.public_pem)
    algs, header = [c.alg], {"alg": c.alg, "typ": "at+jwt", "kid": KID}
    check = {"iss": ISS, "aud": AUD, "exp": None}

    def verify(token: str) -> Any:
        tok = jwt.JWT(jwt=token, key=public, algs=algs, check_claims=check)
        return json.loads(tok.claims)

    def sign(claims: dict[str, Any]) -> str:
        tok = jwt.JWT(header=header, claims=claims)
        tok.make_signed_token(private)
        return tok.serialize()  # type: ignore[no-any-return]

    return Impl(verify, sign)


PEER_FACTORIES: dict[str, Callable[[Crypto], Impl | None]] = {
    "PyJWT": pyjwt_impl,
    "joserfc": joserfc_impl,
    "authlib.jose": authlib_impl,
    "python-jose": python_jose_impl,
    "jwcrypto": jwcrypto_impl,
}


# --- correctness gate --- #


@dataclass
class Setup:
    alg: str
    token: str
    verify: dict[str, Verify] = field(default_factory=dict)
    sign: dict[str, Callable[[], str]] = field(default_factory=dict)
    primitive_verify: Callable[[], object] | None = None
    primitive_sign: Callable[[], object] | None = None


def _rejects(fn: Verify, token: str) -> bool:
    try:
        fn(token)
    except Exception:
        return True
    return False


def gate(name: str, fn: Verify, good: str, bad: dict[str, str]) -> None:
    """Raise AssertionError unless ``fn`` accepts ``good`` and rejects every ``bad``."""
    fn(good)
    accepted = [why for why, token in bad.items() if not _rejects(fn, token)]
    if accepted:
        raise AssertionError(f"{name} accepted: {', '.join(accepted)}")


def build(alg: str, now: float) -> Setup:
    c = make_crypto(alg)
    claims = make_claims(now)
    encode = floor_signer(c)
    token = encode(claims)
    other = floor_signer(make_crypto(alg))
    head, payload, sig = token.split(".")
    raw = bytearray(b64d(sig))
    raw[0] ^= 1
    bad = {
        "forged signature": f"{head}.{payload}.{b64e(bytes(raw))}",
        "wrong key": other(claims),
        "wrong aud": encode(make_claims(now, aud="api://other")),
        "wrong iss": encode(make_claims(now, iss="https://evil.example.com")),
        "expired": encode(make_claims(now - 7200)),
        "no exp": encode(make_claims(now, exp=None)),
    }
    setup = Setup(alg, token)
    tw, tw_cached, tw_jws = tokenward_impls(c)
    impls: dict[str, Impl | None] = {TW: tw}
    impls.update({name: factory(c) for name, factory in PEER_FACTORIES.items()})
    impls[FLOOR] = Impl(floor_verifier(c), encode)
    floor = floor_verifier(c)
    for name, impl in impls.items():
        if impl is None:
            continue
        assert impl.verify is not None and impl.sign is not None
        gate(name, impl.verify, token, bad)
        floor(impl.sign(claims))  # its own token verifies with the floor verifier
        setup.verify[name] = impl.verify
        sign = impl.sign
        setup.sign[name] = lambda sign=sign: sign(claims)  # type: ignore[misc]
    gate(TW_CACHED, tw_cached, token, bad)
    setup.verify[TW_CACHED] = tw_cached
    payload_json = json.dumps(claims, separators=(",", ":")).encode()
    floor(tw_jws(payload_json))
    setup.sign[TW_JWS] = lambda: tw_jws(payload_json)
    si, _, s64 = token.rpartition(".")
    si_bytes, sig_bytes = si.encode("ascii"), b64d(s64)
    primitive_verify, primitive_sign = c.verify, c.sign
    setup.primitive_verify = lambda: primitive_verify(si_bytes, sig_bytes)
    setup.primitive_sign = lambda: primitive_sign(si_bytes)
    return setup


# --- running and reporting --- #


@dataclass
class Report:
    verify: dict[str, dict[str, Stats]]  # alg -> impl -> stats
    sign: dict[str, dict[str, Stats]]
    rounds: int
    seconds: float
    wall: bool = False


def run(
    algs: tuple[str, ...],
    *,
    rounds: int,
    target: float,
    verbose: bool = True,
    wall: bool = False,
) -> Report:
    """Gate, then time every (operation, algorithm, implementation) cell."""
    with warnings.catch_warnings():
        # authlib.jose warns on import, joserfc on every EdDSA call: not what is measured.
        # authlib.deprecate installs an "always" filter when imported: import it first.
        import authlib.deprecate  # noqa: F401

        warnings.simplefilter("ignore")
        return _run(algs, rounds=rounds, target=target, verbose=verbose, wall=wall)


def _run(algs: tuple[str, ...], *, rounds: int, target: float, verbose: bool, wall: bool) -> Report:
    now = time.time()
    setups = {alg: build(alg, now) for alg in algs}
    cells: dict[str, Callable[[], object]] = {}
    for alg, s in setups.items():
        for name, fn in s.verify.items():
            cells[f"verify|{alg}|{name}"] = functools.partial(fn, s.token)
        for name, sign in s.sign.items():
            cells[f"sign|{alg}|{name}"] = sign
        assert s.primitive_verify is not None and s.primitive_sign is not None
        cells[f"verify|{alg}|{PRIMITIVE}"] = s.primitive_verify
        cells[f"sign|{alg}|{PRIMITIVE}"] = s.primitive_sign
    started = time.perf_counter()

    def progress(r: int) -> None:
        if verbose:
            print(f"  round {r + 1}/{rounds}", file=sys.stderr, end="\r", flush=True)

    timer = time.perf_counter_ns if wall else time.thread_time_ns
    stats = run_cells(cells, rounds=rounds, target=target, progress=progress, timer=timer)
    report = Report({a: {} for a in algs}, {a: {} for a in algs}, rounds, 0.0, wall)
    for key, value in stats.items():
        op, alg, name = key.split("|")
        getattr(report, op)[alg][name] = value
    report.seconds = time.perf_counter() - started
    return report


def _fastest_peer(cells: dict[str, Stats], attr: str) -> tuple[str, float]:
    peers = [(getattr(cells[p], attr), p) for p in PEERS if p in cells]
    value, name = min(peers)
    return name, value


def _table(
    title: str, data: dict[str, dict[str, Stats]], algs: tuple[str, ...], attr: str
) -> list[str]:
    names = [TW, TW_CACHED, TW_JWS, *PEERS, FLOOR, PRIMITIVE]
    lines = [f"### {title}", "", "| implementation | " + " | ".join(algs) + " |"]
    lines.append("|---|" + "---|" * len(algs))
    for name in names:
        if not any(name in data[a] for a in algs):
            continue
        row = [fmt_us(getattr(data[a][name], attr)) if name in data[a] else "n/a" for a in algs]
        lines.append(f"| {name} | " + " | ".join(row) + " |")
    return [*lines, ""]


def _check(ok: bool) -> str:
    return "met" if ok else "**MISSED**"


def targets(report: Report, attr: str = "median") -> list[str]:
    """Ratios within this run, and whether each target of issue 2 sec. 6 is met."""
    lines = [
        f"### Ratios and targets ({attr}s)",
        "",
        "| alg | op | tokenward µs | fastest peer | peer µs | speed-up vs peer | ÷ floor "
        "| target |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for alg, cells in report.verify.items():
        tw, floor = getattr(cells[TW], attr), getattr(cells[FLOOR], attr)
        peer, pv = _fastest_peer(cells, attr)
        if alg == "HS256":
            ok, goal = pv / tw >= 2.5 and tw / floor <= 1.3, ">= 2.5x peer, <= 1.3x floor"
        else:
            ok, goal = pv > tw and tw / floor <= 1.15, "> every peer, <= 1.15x floor"
        lines.append(
            f"| {alg} | verify+validate | {fmt_us(tw)} | {peer} | {fmt_us(pv)} | "
            f"{pv / tw:.2f}x | {tw / floor:.2f}x | {goal}: {_check(ok)} |"
        )
        cached = getattr(cells[TW_CACHED], attr)
        goal = ">= 20x peer" if alg in ("RS256", "ES256") else "(no target)"
        ok = pv / cached >= 20 or alg not in ("RS256", "ES256")
        lines.append(
            f"| {alg} | cached re-validation | {fmt_us(cached)} | {peer} verify | {fmt_us(pv)} | "
            f"{pv / cached:.1f}x | {cached / floor:.2f}x | {goal}: {_check(ok)} |"
        )
    for alg, cells in report.sign.items():
        tw, floor = getattr(cells[TW], attr), getattr(cells[FLOOR], attr)
        prim = getattr(cells[PRIMITIVE], attr)
        peer, pv = _fastest_peer(cells, attr)
        if alg == "HS256":
            ok, goal = tw / floor <= 1.3, "<= 1.3x floor"
        else:
            ok, goal = tw / prim <= 1.05, f"<= 1.05x primitive ({tw / prim:.2f}x)"
        lines.append(
            f"| {alg} | sign (TokenIssuer.issue) | {fmt_us(tw)} | {peer} | {fmt_us(pv)} | "
            f"{pv / tw:.2f}x | {tw / floor:.2f}x | {goal}: {_check(ok)} |"
        )
        jws_only = getattr(cells[TW_JWS], attr)
        lines.append(
            f"| {alg} | sign (jws.sign, claims already JSON) | {fmt_us(jws_only)} | {peer} | "
            f"{fmt_us(pv)} | {pv / jws_only:.2f}x | {jws_only / floor:.2f}x | (no target): "
            f"{jws_only / prim:.2f}x primitive |"
        )
    return [*lines, ""]


def render(report: Report) -> str:
    algs = tuple(report.verify)
    import cryptography

    versions = []
    for dist in ("PyJWT", "joserfc", "Authlib", "python-jose", "jwcrypto"):
        from importlib.metadata import version

        versions.append(f"{dist} {version(dist)}")
    lines = [
        "## core",
        "",
        f"- Date: {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}; "
        f"Python {platform.python_version()}; cryptography {cryptography.__version__}; "
        + ", ".join(versions),
        f"- {report.rounds} interleaved rounds, each cell sampled once per round in shuffled "
        f"order, ~20 ms per sample; µs per operation ("
        + (
            "wall clock"
            if report.wall
            else "thread CPU time, so waiting for a CPU on a "
            "shared machine is not counted; `--wall` for wall clock"
        )
        + f"); run took {report.seconds:.0f} s; load average at start {_load()}. "
        "`bench/core.py`, one process.",
        "- verify = decode + signature + iss/aud/exp checks of the same token; tokenward runs "
        "its full policy (typ, nbf, iat, lifetime, jti, sub) with the cache disabled; "
        "`tokenward (cached)` re-validates a token already seen (time, typ and revocation "
        "checks still run). sign = tokenward `TokenIssuer.issue` (fresh jti, iat, exp) vs "
        "peers' encode of a prepared claims dict; `tokenward (jws.sign)` signs the same claims "
        "already serialised to JSON (the JOSE layer alone). floor = stdlib json/base64/hmac + "
        "cryptography doing the minimal job (no header parsing); primitive = the bare "
        "crypto call on pre-decoded inputs.",
        "",
        *_table("Verify + validate, median µs/op", report.verify, algs, "median"),
        *_table("Verify + validate, best sample µs/op", report.verify, algs, "minimum"),
        *_table("Sign, median µs/op", report.sign, algs, "median"),
        *targets(report, "median"),
        *targets(report, "minimum"),
    ]
    return "\n".join(lines)


def _load() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run, writes nothing")
    parser.add_argument("--algs", default=",".join(ALGS), help="comma-separated algorithms")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--wall", action="store_true", help="wall clock instead of CPU time")
    parser.add_argument("--output", type=Path, default=Path(__file__).with_name("RESULTS.md"))
    args = parser.parse_args(argv)
    algs = tuple(a for a in args.algs.split(",") if a)
    unknown = set(algs) - set(ALGS)
    if unknown:
        parser.error(f"unknown algorithms {sorted(unknown)}")
    rounds = args.rounds or (3 if args.quick else 31)
    report = run(algs, rounds=rounds, target=0.002 if args.quick else 0.02, wall=args.wall)
    text = render(report)
    print(text)
    if not args.quick:
        write_section(args.output, text)
        print(f"\nwrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
