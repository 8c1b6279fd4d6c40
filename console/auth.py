"""Who is asking: a session cookie for pages (with its CSRF token), a bearer token for the API.

Failures are exceptions the app turns into a clear page or a JSON 401/403 (`console.app`): a
page visitor without a session is sent to sign in (told when it expired), an API caller gets
``401`` with ``WWW-Authenticate: Bearer``, anyone lacking a permission gets ``403``.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from fastapi import Request

from console.roles import Permission, allowed
from console.users import Session, User, UserStore

__all__ = [
    "CSRF_COOKIE",
    "SESSION_COOKIE",
    "CsrfFailed",
    "Forbidden",
    "NotSignedIn",
    "Unauthorized",
    "bearer_user",
    "check_csrf",
    "page_session",
    "require",
    "session_or_bearer",
]

SESSION_COOKIE = "overdue_session"
#: Double-submit cookie protecting the sign-in form, the one form posted without a session.
CSRF_COOKIE = "overdue_login_csrf"


@dataclass
class NotSignedIn(Exception):
    """A page needs a session; `expired` if the cookie named one that ran out."""

    expired: bool = False


@dataclass
class Unauthorized(Exception):
    """An API call without a valid bearer token."""

    message: str = "a valid API token is required (Authorization: Bearer TOKEN)"


@dataclass
class Forbidden(Exception):
    """The user lacks a permission."""

    user: User
    permission: Permission

    @property
    def message(self) -> str:
        """The one line shown to the user."""
        return f"role {self.user.role} may not do this ({self.permission} is needed)"


class CsrfFailed(Exception):
    """A form arrived without the token of the session that rendered it."""


def _store(request: Request) -> UserStore:
    store: UserStore = request.app.state.console.users
    return store


def page_session(request: Request) -> Session:
    """The signed-in session of a page request."""
    sid = request.cookies.get(SESSION_COOKIE)
    if not sid:
        raise NotSignedIn()
    found = _store(request).session(sid)
    if found is None:
        raise NotSignedIn()
    if found == "expired":
        raise NotSignedIn(expired=True)
    return found


def bearer_user(request: Request) -> User | None:
    """The user of an ``Authorization: Bearer`` header, None if there is no such header."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        return None
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("the Authorization header must be 'Bearer TOKEN'")
    user = _store(request).user_for_token(token.strip())
    if user is None:
        raise Unauthorized("unknown API token")
    return user


def api_user(request: Request) -> User:
    """The user of an API call (bearer token required)."""
    user = bearer_user(request)
    if user is None:
        raise Unauthorized()
    return user


def session_or_bearer(request: Request) -> User:
    """A bearer token, or else the browser's session (the Web UI calling the codec)."""
    user = bearer_user(request)
    if user is not None:
        return user
    sid = request.cookies.get(SESSION_COOKIE)
    found = _store(request).session(sid) if sid else None
    if found is None or found == "expired":
        raise Unauthorized("sign in to the console or send Authorization: Bearer TOKEN")
    return found.user


def require(user: User, permission: Permission) -> None:
    """Raise `Forbidden` unless the user has the permission."""
    if not allowed(user.role, permission):
        raise Forbidden(user, permission)


def check_csrf(expected: str, given: str | None) -> None:
    """Raise `CsrfFailed` unless the form carried the expected token."""
    if not given or not hmac.compare_digest(expected.encode(), given.encode()):
        raise CsrfFailed()


__all__ += ["api_user"]
