"""Authentication: JWT (HS256) issue and check, bcrypt off the event loop, route guards.

A token travels in `Authorization: Bearer <jwt>` or as the bare `<jwt>` (the seed's dashboard
sends it bare). Its claims are `userId, name, email, role, iat, exp` and `ver`, the account's
token version when it was issued. Every authenticated request looks the account up: a deleted
account, or one whose role or password changed since (its version moved on), gets 401, so a
token dies with the privileges it carried (docs/security.md §2).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import bcrypt
import jwt
import msgspec
from aiohttp import web

from actors import metrics
from actors.config import Settings
from actors.front.errors import ApiError, ErrorSource
from actors.messages import User
from actors.store.base import Store

ALGORITHM = "HS256"
T = TypeVar("T")
ADMIN_ROLES = frozenset({"admin"})


class Claims(msgspec.Struct, frozen=True, rename="camel"):
    """What a valid token says about its bearer."""

    user_id: str
    name: str
    email: str
    role: str
    iat: int
    exp: int
    ver: int = 0


class HasherBusy(ApiError):
    """Too many password checks are already waiting: this request is shed with a 503."""

    def __init__(self) -> None:
        message = "The server is busy checking passwords; retry shortly"
        super().__init__(503, message, [ErrorSource("", message)], {"Retry-After": "1"})


def _lower_priority() -> None:
    """bcrypt threads run at the lowest CPU priority (nice 19): on a busy machine the event
    loop's thread, which serves every socket, is scheduled first, and bcrypt gets what is left.
    bcrypt releases the GIL, so the loop is never held by it."""
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


class _Lane:
    """One share of the bcrypt work: its own threads and its own bound on waiting work."""

    def __init__(self, name: str, workers: int, max_pending: int) -> None:
        self.max_pending = max_pending
        self.pending = 0
        self.pool = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix=f"bcrypt-{name}", initializer=_lower_priority
        )

    async def run(self, func: Callable[..., T], *args: object) -> T:
        if self.pending >= self.max_pending:
            metrics.AUTH_REFUSED.labels("hasher_busy").inc()
            raise HasherBusy()
        self.pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self.pool, func, *args)
        finally:
            self.pending -= 1


class PasswordHasher:
    """bcrypt at the configured cost, on threads so the loop stays responsive.

    Checks (logins) and new hashes (registrations) have separate lanes, each with its own
    threads and its own bound (`HasherBusy` past it): a flood of registrations can fill only its
    own lane, never refuse or queue a login. Costs stay in proportion to the bounds, not to a
    flood.
    """

    def __init__(
        self,
        rounds: int,
        workers: int = 1,
        max_pending: int = 64,
        *,
        hash_workers: int = 1,
        max_pending_hashes: int = 8,
    ) -> None:
        self.rounds = rounds
        self.max_pending = max_pending
        self._checks = _Lane("check", workers, max_pending)
        self._hashes = _Lane("hash", hash_workers, max_pending_hashes)
        self._decoy: bytes | None = None

    async def hash(self, password: str) -> str:
        """A new bcrypt hash of `password` (at most 72 bytes, checked by the caller)."""
        digest = await self._hashes.run(
            bcrypt.hashpw, password.encode(), bcrypt.gensalt(self.rounds)
        )
        return digest.decode()

    async def verify(self, password: str, password_hash: str | None) -> bool:
        """Whether `password` matches; with no hash it checks a decoy and answers False."""
        secret = password.encode()
        if len(secret) > 72:
            return False
        if password_hash is None:
            # Same cost as a real check, so response time does not tell which emails exist.
            if self._decoy is None:
                salt = bcrypt.gensalt(self.rounds)
                self._decoy = await self._checks.run(bcrypt.hashpw, b"decoy-password", salt)
            await self._checks.run(bcrypt.checkpw, secret, self._decoy)
            return False
        try:
            return bool(await self._checks.run(bcrypt.checkpw, secret, password_hash.encode()))
        except ValueError:  # a malformed stored hash
            return False

    def close(self) -> None:
        self._checks.pool.shutdown(wait=False, cancel_futures=True)
        self._hashes.pool.shutdown(wait=False, cancel_futures=True)


class TokenService:
    """Issues and checks access tokens with JWT_ACCESS_SECRET and JWT_ACCESS_EXPIRES_IN."""

    def __init__(self, secret: str, expires_seconds: float) -> None:
        self._secret = secret
        self.expires_seconds = int(expires_seconds)

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenService:
        return cls(settings.jwt_access_secret, settings.jwt_access_expires_seconds)

    def issue(self, user: User, now: float | None = None) -> str:
        """A signed token for `user`."""
        issued = int(time.time() if now is None else now)
        claims = {
            "userId": user.id,
            "name": user.name,
            "email": user.email,
            "role": user.role,
            "iat": issued,
            "exp": issued + self.expires_seconds,
            "ver": user.token_version,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def verify(self, token: str) -> Claims:
        """The claims of a valid token; ApiError 401 for expired, tampered or foreign ones."""
        try:
            raw = jwt.decode(
                token, self._secret, algorithms=[ALGORITHM], options={"require": ["exp", "iat"]}
            )
            return msgspec.convert(raw, Claims)
        except jwt.ExpiredSignatureError:
            raise _unauthorized("The token has expired; log in again") from None
        except (jwt.InvalidTokenError, msgspec.ValidationError):
            raise _unauthorized("The token is invalid") from None


def _unauthorized(message: str) -> ApiError:
    return ApiError(
        401, message, [ErrorSource("authorization", message)], {"WWW-Authenticate": "Bearer"}
    )


def token_from(request: web.Request) -> str | None:
    """The token of `Authorization: Bearer <jwt>` or of a bare `Authorization: <jwt>`."""
    header = request.headers.get("Authorization", "").strip()
    if not header:
        return None
    scheme, _, rest = header.partition(" ")
    if scheme.lower() == "bearer":
        return rest.strip() or None
    return header if not rest else None


class Guard:
    """Route guards: `require_user` checks the token against the stored account (its token
    version), `require_admin` also the stored role."""

    def __init__(self, tokens: TokenService, store: Store) -> None:
        self.tokens = tokens
        self.store = store

    async def require_user(self, request: web.Request) -> tuple[Claims, User]:
        """The bearer's claims and account; 401 when the token is missing, invalid, or older
        than the account's last role or password change."""
        token = token_from(request)
        if token is None:
            raise _unauthorized("Authentication required: send Authorization: Bearer <token>")
        claims = self.tokens.verify(token)
        user = await self.store.get_user(claims.user_id)
        if user is None:
            raise _unauthorized("The token's account no longer exists")
        if claims.ver != user.token_version:
            metrics.AUTH_REFUSED.labels("stale_token").inc()
            raise _unauthorized(
                "The token was issued before the account's role or password changed; log in again"
            )
        return claims, user

    async def require_admin(self, request: web.Request) -> Claims:
        """The claims of a current admin; 401 without a valid token, 403 for anyone else."""
        claims, user = await self.require_user(request)
        if user.role not in ADMIN_ROLES:
            message = "Admin role required"
            raise ApiError(403, message, [ErrorSource("authorization", message)])
        return claims
