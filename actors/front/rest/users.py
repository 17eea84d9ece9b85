"""Users: register (and its dashboard alias /users/create) and login."""

from __future__ import annotations

import logging

from aiohttp import web

from actors import metrics
from actors.front.auth import PasswordHasher, TokenService
from actors.front.errors import ApiError, ErrorSource, envelope
from actors.front.ratelimit import LoginLimiter, RegistrationLimiter
from actors.front.rest.common import Endpoint, read_json
from actors.front.schemas import LoginBody, RegisterBody, TokenView, UserView
from actors.messages import User
from actors.store.base import DuplicateError, Store

log = logging.getLogger("actors.front.users")

NEW_USER_ROLE = "user"
BCRYPT_MAX_BYTES = 72


def user_view(user: User) -> UserView:
    """The public face of a user."""
    return UserView(user.id, user.name, user.email, user.role, user.created_at, user.updated_at)


class UsersApi:
    """Register and login handlers."""

    def __init__(
        self,
        store: Store,
        hasher: PasswordHasher,
        tokens: TokenService,
        limiter: LoginLimiter,
        registrations: RegistrationLimiter | None = None,
    ) -> None:
        self.store = store
        self.hasher = hasher
        self.tokens = tokens
        self.limiter = limiter
        self.registrations = registrations or RegistrationLimiter()

    def endpoints(self) -> list[Endpoint]:
        register = (
            "Creates an account with role `user`; a `role` in the body is ignored "
            "(admins come from `binance-stats create-admin`)."
        )
        registration = Endpoint(
            "POST",
            "/users/register",
            self.register,
            "Register a new user",
            "Users",
            body=RegisterBody,
            data=UserView,
            status=201,
            errors=(400, 409, 413, 415, 429, 503),
            description=register + " Limited per client address (429 + Retry-After).",
        )
        return [
            registration,
            registration.alias("/users/create", "Register a new user (dashboard alias)"),
            Endpoint(
                "POST",
                "/users/login",
                self.login,
                "Log in and receive an access token",
                "Users",
                body=LoginBody,
                data=TokenView,
                errors=(400, 401, 413, 415, 429, 503),
                description="Failed attempts are limited per (email, client address) and per "
                "client address (429 + Retry-After).",
            ),
        ]

    async def register(self, request: web.Request) -> web.Response:
        body = await read_json(request, RegisterBody)
        name = body.name.strip()
        if not name:
            raise ApiError.field(400, "name", "name must not be blank")
        if len(body.password.encode()) > BCRYPT_MAX_BYTES:
            raise ApiError.field(
                400, "password", f"password must be at most {BCRYPT_MAX_BYTES} bytes"
            )
        email = body.email.strip().lower()
        wait = self.registrations.begin(request.remote or "unknown")
        if wait:
            metrics.AUTH_REFUSED.labels("registrations_per_ip").inc()
            message = f"Too many registrations from this address; retry in {wait} s"
            raise ApiError(429, message, [ErrorSource("", message)], {"Retry-After": str(wait)})
        if await self.store.get_user_by_email(email) is not None:
            raise _duplicate_email(email)
        password_hash = await self.hasher.hash(body.password)
        try:
            user = await self.store.create_user(name, email, password_hash, NEW_USER_ROLE)
        except DuplicateError:
            raise _duplicate_email(email) from None
        return envelope(user_view(user), "User registered successfully", status=201)

    async def login(self, request: web.Request) -> web.Response:
        body = await read_json(request, LoginBody)
        email = body.email.strip().lower()
        ip = request.remote or "unknown"
        wait = self.limiter.begin(email, ip)
        if wait:
            metrics.AUTH_REFUSED.labels("login_failures").inc()
            message = f"Too many failed login attempts; retry in {wait} s"
            headers = {"Retry-After": str(wait)}
            raise ApiError(429, message, [ErrorSource("login", message)], headers)
        try:
            user = await self.store.get_user_by_email(email)
            matches = await self.hasher.verify(body.password, user.password_hash if user else None)
        except BaseException:
            self.limiter.withdraw(email, ip)
            raise
        if user is None or not matches:
            message = "Invalid email or password"
            raise ApiError(401, message, [ErrorSource("credentials", message)])
        self.limiter.succeeded(email, ip)
        return envelope(TokenView(self.tokens.issue(user)), "User logged in successfully")


def _duplicate_email(email: str) -> ApiError:
    message = f"A user with email {email} already exists"
    return ApiError(409, message, [ErrorSource("email", message)])
