"""Authorization policies: predicates over a validated :class:`Principal`.

A policy is any callable ``Principal -> bool``. The two common shapes are provided as
frozen dataclasses so they print and compare well::

    policies = {
        "AdminOnly": RolePolicy(("Admin",)),        # ASP.NET [Authorize(Policy = "AdminOnly")]
        "TenantScoped": ClaimPolicy(("tenant",)),  # requires a tenant claim
        "Adults": lambda p: (p.claim("age") or 0) >= 18,
    }

Authorization only ever reads claims of a token whose signature and claims were already
verified (RFC 8725 sec. 3.10): there is no other input.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeAlias

from tokenward.errors import ConfigurationError

if TYPE_CHECKING:
    from tokenward.validation import Principal

__all__ = ["AllOf", "ClaimPolicy", "Policy", "RolePolicy", "combine"]

#: a predicate that decides whether a principal may proceed
Policy: TypeAlias = "Callable[[Principal], bool]"


@dataclass(frozen=True, slots=True)
class RolePolicy:
    """True when the principal has at least ONE of ``roles`` (exact, case-sensitive),
    like ASP.NET's ``[Authorize(Roles = "A,B")]``; stack policies for "all of"."""

    roles: tuple[str, ...]

    def __post_init__(self) -> None:
        if isinstance(self.roles, str) or not self.roles:
            raise ConfigurationError("RolePolicy needs a non-empty tuple of role names")
        for role in self.roles:
            if not isinstance(role, str) or not role:
                raise ConfigurationError("role names must be non-empty strings")

    def __call__(self, principal: Principal) -> bool:
        has_role = principal.has_role
        return any(has_role(role) for role in self.roles)


def _matches(actual: Any, expected: Any) -> bool:
    if actual == expected and type(actual) is type(expected):
        return True
    # A multi-valued claim (JSON array, a tuple on the Principal) matches when it holds
    # the expected value.
    return isinstance(actual, tuple) and any(
        item == expected and type(item) is type(expected) for item in actual
    )


@dataclass(frozen=True, slots=True)
class ClaimPolicy:
    """True when every claim in ``names`` is present (and not null or empty) and every
    claim in ``values`` equals the given value (or, for an array claim, contains it).
    Types must match exactly: ``True`` never equals ``1``."""

    names: tuple[str, ...] = ()
    values: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if isinstance(self.names, str):
            raise ConfigurationError("ClaimPolicy.names must be a tuple, not a string")
        if not self.names and not self.values:
            raise ConfigurationError("ClaimPolicy needs at least one claim")
        object.__setattr__(self, "values", MappingProxyType(dict(self.values)))

    def __call__(self, principal: Principal) -> bool:
        claims = principal.claims
        for name in self.names:
            if claims.get(name) in (None, "", ()):
                return False
        return all(
            name in claims and _matches(claims[name], value) for name, value in self.values.items()
        )


@dataclass(frozen=True, slots=True)
class AllOf:
    """True when every one of ``policies`` is."""

    policies: tuple[Policy, ...]

    def __call__(self, principal: Principal) -> bool:
        return all(policy(principal) for policy in self.policies)


def combine(
    named: Policy | None, *, roles: tuple[str, ...] = (), claims: tuple[str, ...] = ()
) -> Policy | None:
    """One check out of a policy, roles (any of) and required claim names; None for none."""
    checks: list[Policy] = [] if named is None else [named]
    if roles:
        checks.append(RolePolicy(roles))
    if claims:
        checks.append(ClaimPolicy(claims))
    if not checks:
        return None
    return checks[0] if len(checks) == 1 else AllOf(tuple(checks))
