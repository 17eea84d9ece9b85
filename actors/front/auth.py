"""Authentication: JWT (HS256) issue and check, bcrypt off the event loop, route guards.

A token travels in `Authorization: Bearer <jwt>` or as the bare `<jwt>` (the seed's dashboard
sends it bare). Its claims are `userId, name, email, role, iat, exp`. Admin routes also look
the user up, so a demoted or deleted account loses admin rights before its token expires.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import bcrypt
import jwt
import msgspec
from aiohttp import web

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


class HasherBusy(ApiError):
    """Too many password checks are already waiting: this request is shed with a 503."""

    def __init__(self) -> None:
        message = "The server is busy checking passwords; retry shortly"
        super().__init__(503, message, [ErrorSource("", message)], {"Retry-After": "1"})


class PasswordHasher:
    """bcrypt at the configured cost, run on a small thread pool so the loop stays responsive.

    At most `max_pending` checks wait or run at once: past that `HasherBusy` is raised at once,
    so a flood of logins costs memory and CPU in proportion to the bound, not to the flood.
    """

    def __init__(self, rounds: int, workers: int = 2, max_pending: int = 64) -> None:
        self.rounds = rounds
        self.max_pending = max_pending
        self._pending = 0
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bcrypt")
        self._decoy: bytes | None = None

    async def _run(self, func: Callable[..., T], *args: object) -> T:
        if self._pending >= self.max_pending:
            raise HasherBusy()
        self._pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, func, *args)
        finally:
            self._pending -= 1

    async def hash(self, password: str) -> str:
        """A new bcrypt hash of `password` (at most 72 bytes, checked by the caller)."""
        digest = await self._run(bcrypt.hashpw, password.encode(), bcrypt.gensalt(self.rounds))
        return digest.decode()

    async def verify(self, password: str, password_hash: str | None) -> bool:
        """Whether `password` matches; with no hash it checks a decoy and answers False."""
        secret = password.encode()
        if len(secret) > 72:
            return False
        if password_hash is None:
            # Same cost as a real check, so response time does not tell which emails exist.
            if self._decoy is None:
                self._decoy = (await self.hash("decoy-password")).encode()
            await self._run(bcrypt.checkpw, secret, self._decoy)
            return False
        try:
            return bool(await self._run(bcrypt.checkpw, secret, password_hash.encode()))
        except ValueError:  # a malformed stored hash
            return False

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


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
    """Route guards: `require_user` checks the token, `require_admin` also the stored role."""

    def __init__(self, tokens: TokenService, store: Store) -> None:
        self.tokens = tokens
        self.store = store

    def require_user(self, request: web.Request) -> Claims:
        """The bearer's claims; 401 when the token is missing or invalid."""
        token = token_from(request)
        if token is None:
            raise _unauthorized("Authentication required: send Authorization: Bearer <token>")
        return self.tokens.verify(token)

    async def require_admin(self, request: web.Request) -> Claims:
        """The claims of a current admin; 401 without a valid token, 403 for anyone else."""
        claims = self.require_user(request)
        user = await self.store.get_user(claims.user_id)
        if user is None:
            raise _unauthorized("The token's account no longer exists")
        if user.role not in ADMIN_ROLES:
            message = "Admin role required"
            raise ApiError(403, message, [ErrorSource("authorization", message)])
        return claims
