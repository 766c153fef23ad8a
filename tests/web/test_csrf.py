"""CsrfProtector: signed, session-bound double-submit tokens (security profile 5.2)."""

from __future__ import annotations

import pytest

from tokenward.errors import ConfigurationError, CSRFError
from tokenward.web import CsrfProtector

SECRET = b"s" * 32


@pytest.fixture
def protector() -> CsrfProtector:
    return CsrfProtector(SECRET, allowed_origins=["https://app.example"])


def test_issue_then_verify_for_the_same_session(protector: CsrfProtector) -> None:
    token = protector.issue("sid-1")
    assert len(token) == 64
    protector.verify(token, "sid-1")  # no exception
    assert protector.issue("sid-1") != token  # a fresh nonce each time


@pytest.mark.parametrize("session_id", ["sid-2", "sid-1 ", "", None])
def test_token_is_bound_to_its_session(protector: CsrfProtector, session_id: str | None) -> None:
    with pytest.raises(CSRFError):
        protector.verify(protector.issue("sid-1"), session_id)


def test_other_secret_does_not_verify(protector: CsrfProtector) -> None:
    other = CsrfProtector(b"t" * 32, allowed_origins=[])
    with pytest.raises(CSRFError):
        protector.verify(other.issue("sid-1"), "sid-1")


@pytest.mark.parametrize("token", ["", "x", "=" * 64, "A" * 63, "A" * 65, "é" * 64, "A" * 64])
def test_malformed_tokens_fail_cleanly(protector: CsrfProtector, token: str) -> None:
    with pytest.raises(CSRFError):
        protector.verify(token, "sid-1")


@pytest.mark.parametrize("secret", [b"", b"x" * 31, "s" * 32])
def test_short_or_text_secrets_are_refused(secret: object) -> None:
    with pytest.raises(ConfigurationError):
        CsrfProtector(secret, allowed_origins=[])  # type: ignore[arg-type]


@pytest.mark.parametrize("origin", ["app.example", "https://app.example/path", "ftp://x", "null"])
def test_allowed_origins_must_be_origins(origin: str) -> None:
    with pytest.raises(ConfigurationError):
        CsrfProtector(SECRET, allowed_origins=[origin])


def _scope(*headers: tuple[bytes, bytes]) -> dict[str, object]:
    return {"type": "http", "scheme": "https", "headers": list(headers)}


def test_empty_allowed_origins_means_the_request_origin() -> None:
    protector = CsrfProtector(SECRET, allowed_origins=[])
    own = _scope((b"host", b"api.example"), (b"origin", b"https://api.example"))
    evil = _scope((b"host", b"api.example"), (b"origin", b"https://evil.example"))
    protector.check_origin(own)
    with pytest.raises(CSRFError):
        protector.check_origin(evil)


def test_request_without_origin_headers_relies_on_the_token(protector: CsrfProtector) -> None:
    protector.check_origin(_scope((b"host", b"api.example")))  # non-browser client
    with pytest.raises(CSRFError):  # but a same-site browser request must name its origin
        protector.check_origin(_scope((b"sec-fetch-site", b"same-site")))


# --- pre-session tokens (login CSRF, OWASP "Possible CSRF Vulnerabilities in Login Forms") ---


def test_pre_session_token_round_trip(protector: CsrfProtector) -> None:
    token = protector.issue_pre_session()
    assert len(token) == 64
    protector.verify_pre_session(token)  # no exception
    assert protector.issue_pre_session() != token  # a fresh random pre-session id each time


@pytest.mark.parametrize("session_id", ["sid-1", "", None])
def test_pre_session_token_never_verifies_as_a_session_token(
    protector: CsrfProtector, session_id: str | None
) -> None:
    with pytest.raises(CSRFError):
        protector.verify(protector.issue_pre_session(), session_id)


# "" proves the domain-separation label: a session token for an empty session id has the
# same fields as a pre-session token and differs only by the label.
@pytest.mark.parametrize("session_id", ["sid-1", "", "\x00"])
def test_session_token_never_verifies_as_a_pre_session_token(
    protector: CsrfProtector, session_id: str
) -> None:
    with pytest.raises(CSRFError):
        protector.verify_pre_session(protector.issue(session_id))


@pytest.mark.parametrize("position", [0, 42, 63])  # in the MAC, in the nonce, last char
def test_tampered_pre_session_token_fails(protector: CsrfProtector, position: int) -> None:
    token = protector.issue_pre_session()
    flipped = "A" if token[position] != "A" else "B"
    with pytest.raises(CSRFError):
        protector.verify_pre_session(token[:position] + flipped + token[position + 1 :])


def test_pre_session_token_of_another_secret_fails(protector: CsrfProtector) -> None:
    other = CsrfProtector(b"t" * 32, allowed_origins=[])
    with pytest.raises(CSRFError):
        protector.verify_pre_session(other.issue_pre_session())


@pytest.mark.parametrize("token", ["", "A" * 63, "A" * 64, "é" * 64, None])
def test_malformed_pre_session_tokens_fail_cleanly(
    protector: CsrfProtector, token: str | None
) -> None:
    with pytest.raises(CSRFError):
        protector.verify_pre_session(token)  # type: ignore[arg-type]


_APP = (b"origin", b"https://app.example")


@pytest.mark.parametrize(
    ("headers", "pair"),
    [
        ((_APP,), "missing_header"),
        ((_APP,), "missing_cookie"),
        ((_APP,), "mismatch"),
        ((_APP,), "session_token"),
        (((b"sec-fetch-site", b"cross-site"),), "valid"),
        (((b"origin", b"https://evil.example"),), "valid"),
        (((b"origin", b"null"),), "valid"),
    ],
)
def test_check_pre_session_request_refuses(
    protector: CsrfProtector, headers: tuple[tuple[bytes, bytes], ...], pair: str
) -> None:
    token = protector.issue_pre_session()
    header, cookie = {
        "missing_header": (None, token),
        "missing_cookie": (token, None),
        "mismatch": (protector.issue_pre_session(), token),
        "session_token": (protector.issue("sid-1"),) * 2,
        "valid": (token, token),
    }[pair]
    with pytest.raises(CSRFError):
        protector.check_pre_session_request(
            _scope(*headers), header_token=header, cookie_token=cookie
        )


def test_check_pre_session_request_accepts_the_pair(protector: CsrfProtector) -> None:
    token = protector.issue_pre_session()
    for headers in ((_APP,), ((b"sec-fetch-site", b"same-origin"),), ()):
        protector.check_pre_session_request(
            _scope(*headers), header_token=token, cookie_token=token
        )
    with pytest.raises(CSRFError):  # and check_request (session-bound) never accepts it
        protector.check_request(
            _scope(_APP), header_token=token, cookie_token=token, session_id="sid-1"
        )
