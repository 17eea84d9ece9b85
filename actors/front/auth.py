"""Authentication: JWT (HS256) issue and check, bcrypt off the event loop, route guards.

A token travels in `Authorization: Bearer <jwt>` or as the bare `<jwt>` (the seed's dashboard
sends it bare). Its claims are `userId, name, email, role, iat, exp`. Admin routes also look
the user up, so a demoted or deleted account loses admin rights before its token expires.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import bcrypt
import jwt
import msgspec
from aiohttp import web

from actors.config import Settings
from actors.front.errors import ApiError, ErrorSource
from actors.messages import User
from actors.store.base import Store

ALGORITHM = "HS256"
ADMIN_ROLES = frozenset({"admin"})


class Claims(msgspec.Struct, frozen=True, rename="camel"):
    """What a valid token says about its bearer."""

    user_id: str
    name: str
    email: str
    role: str
    iat: int
    exp: int


class PasswordHasher:
    """bcrypt at the configured cost, run on a small thread pool so the loop stays responsive."""

    def __init__(self, rounds: int, workers: int = 2) -> None:
        self.rounds = rounds
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bcrypt")
        # Compared against when the email is unknown, so both paths cost one bcrypt check.
        self._decoy = bcrypt.hashpw(b"decoy-password", bcrypt.gensalt(4)).decode()

    async def hash(self, password: str) -> str:
        """A new bcrypt hash of `password` (at most 72 bytes, checked by the caller)."""
        salt = bcrypt.gensalt(self.rounds)
        loop = asyncio.get_running_loop()
        digest = await loop.run_in_executor(self._pool, bcrypt.hashpw, password.encode(), salt)
        return digest.decode()

    async def verify(self, password: str, password_hash: str | None) -> bool:
        """Whether `password` matches; with no hash it checks a decoy and answers False."""
        secret = password.encode()
        if len(secret) > 72:
            return False
        target = (password_hash or self._decoy).encode()
        loop = asyncio.get_running_loop()
        try:
            matches = await loop.run_in_executor(self._pool, bcrypt.checkpw, secret, target)
        except ValueError:  # a malformed stored hash
            return False
        return bool(matches) and password_hash is not None

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
