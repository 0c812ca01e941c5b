"""Operator logins: scrypt password hashes, signed session cookies, CSRF tokens, scopes.

Unlike VEN client secrets (random, 256 bits), operator passwords are chosen by people, so they
get a slow, salted hash. Sessions are signed tokens (any replica verifies them with the key in
the database); the user is re-read on every request, so a removed user or a changed role takes
effect at once. Writes need the session's CSRF token in ``X-CSRF-Token``: a cross-site form can
send the cookie (SameSite aside) but cannot read the token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

import jwt

from balance_aggregator.grid.model import USER_ROLES, OperatorUser
from balance_aggregator.storage.grid import GridStore
from balance_grid.hierarchy import StoredNode

COOKIE = "balance_operator"
SESSION_TTL_S = 8 * 3600
_ISSUER = "balance-operator"
_N, _R, _P = 2**14, 8, 1
MIN_PASSWORD_LENGTH = 8


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    enc = base64.b64encode
    return f"scrypt${_N}${_R}${_P}${enc(salt).decode()}${enc(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        actual = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=32,
        )
    except ValueError:
        return False
    return hmac.compare_digest(actual, base64.b64decode(digest))


#: usernames appear in audit entries ("operator:<name>") and URLs
USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


class UserError(ValueError):
    """A login that cannot be created as asked; the message says why."""


async def save_user(
    grid: GridStore, username: str, role: str, scope: str | None, password: str | None
) -> tuple[OperatorUser, str]:
    """Create or re-key a login (the CLI's user-add and the admin page's form); returns the user
    and its password -- a new random one when none is given, shown once and never stored."""
    if not USERNAME_PATTERN.fullmatch(username):
        raise UserError("a username is 1-64 letters, digits and _ . @ -, starting alphanumeric")
    if role not in USER_ROLES:
        raise UserError(f"role must be one of {', '.join(USER_ROLES)}")
    password = password or secrets.token_urlsafe(12)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if scope is not None and await grid.get_node(scope) is None:
        raise UserError(f"scope node {scope} does not exist")
    user = OperatorUser(username, hash_password(password), role, scope, time.time())
    await grid.put_user(user)
    return user, password


class SessionError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Session:
    username: str
    csrf: str


class SessionSigner:
    def __init__(self, key: str, ttl_s: int = SESSION_TTL_S) -> None:
        self._key = key
        self.ttl_s = ttl_s

    def issue(self, username: str) -> tuple[str, Session]:
        now = int(time.time())
        csrf = secrets.token_urlsafe(24)
        claims: dict[str, Any] = {
            "iss": _ISSUER,
            "sub": username,
            "csrf": csrf,
            "iat": now,
            "exp": now + self.ttl_s,
        }
        return jwt.encode(claims, self._key, algorithm="HS256"), Session(username, csrf)

    def verify(self, token: str) -> Session:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                issuer=_ISSUER,
                options={"require": ["exp", "sub", "iss", "csrf"]},
            )
        except jwt.PyJWTError as err:
            raise SessionError(str(err)) from err
        return Session(str(claims["sub"]), str(claims["csrf"]))


@dataclass(frozen=True, slots=True)
class Operator:
    """A logged-in user with the root of what they may see (None: everything)."""

    user: OperatorUser
    scope: StoredNode | None
    csrf: str

    @property
    def can_write_events(self) -> bool:
        return self.user.role in ("admin", "operator")

    @property
    def is_admin(self) -> bool:
        return self.user.role == "admin"

    @property
    def path_prefix(self) -> str:
        return "" if self.scope is None else self.scope.path

    def sees(self, node: StoredNode) -> bool:
        return node.path.startswith(self.path_prefix)
