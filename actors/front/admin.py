"""Admin accounts: `binance-stats create-admin` and the SUPER_ADMIN_* account made at start.

Both create the account, or promote an existing one to admin and set its password. Passwords
are never logged.
"""

from __future__ import annotations

import logging
import re
import sys
from enum import Enum

from actors.config import Settings
from actors.front.auth import PasswordHasher
from actors.messages import User
from actors.store import open_store
from actors.store.base import DuplicateError, Store, StoreError

log = logging.getLogger("actors.front.admin")

ADMIN_ROLE = "admin"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class AdminOutcome(Enum):
    """What `make_admin` did."""

    CREATED = "created"
    PROMOTED = "promoted"
    UPDATED = "password updated"
    UNCHANGED = "unchanged"


def admin_input_problem(email: str, password: str, name: str) -> str | None:
    """Why these values cannot make an admin, or None."""
    if not _EMAIL.match(email):
        return f"invalid email {email!r}"
    if len(password) < 8:
        return "the password must have at least 8 characters"
    if len(password.encode()) > 72:
        return "the password must be at most 72 bytes (bcrypt's limit)"
    if not name.strip():
        return "the name must not be blank"
    return None


async def make_admin(
    store: Store, hasher: PasswordHasher, email: str, password: str, name: str
) -> AdminOutcome:
    """Create `email` as admin, or make the existing account admin with this password."""
    email = email.strip().lower()
    existing = await store.get_user_by_email(email)
    if existing is None:
        try:
            await store.create_user(name.strip(), email, await hasher.hash(password), ADMIN_ROLE)
            return AdminOutcome.CREATED
        except DuplicateError:  # another front made it meanwhile
            existing = await store.get_user_by_email(email)
            if existing is None:
                raise
    return await _align(store, hasher, existing, password)


async def _align(store: Store, hasher: PasswordHasher, user: User, password: str) -> AdminOutcome:
    password_ok = await hasher.verify(password, user.password_hash)
    if user.role == ADMIN_ROLE and password_ok:
        return AdminOutcome.UNCHANGED
    new_hash = None if password_ok else await hasher.hash(password)
    await store.set_user_role(user.email, ADMIN_ROLE, new_hash)
    return AdminOutcome.PROMOTED if user.role != ADMIN_ROLE else AdminOutcome.UPDATED


async def ensure_super_admin(
    store: Store, settings: Settings, hasher: PasswordHasher | None = None
) -> None:
    """Make sure SUPER_ADMIN_EMAIL exists as an admin with SUPER_ADMIN_PASSWORD (idempotent)."""
    if not settings.super_admin_email or not settings.super_admin_password:
        return
    own = hasher is None
    hasher = hasher or PasswordHasher(settings.bcrypt_salt_rounds, workers=1)
    try:
        outcome = await make_admin(
            store, hasher, settings.super_admin_email, settings.super_admin_password, "Super Admin"
        )
    finally:
        if own:
            hasher.close()
    if outcome is not AdminOutcome.UNCHANGED:
        log.info("super admin %s: %s", settings.super_admin_email, outcome.value)


async def create_admin_command(settings: Settings, email: str, password: str, name: str) -> int:
    """`binance-stats create-admin --email E --password P`: 0 done, 2 bad input, 1 store down."""
    problem = admin_input_problem(email, password, name)
    if problem:
        print(f"binance-stats create-admin: {problem}", file=sys.stderr)
        return 2
    store = open_store(
        settings.database_url,
        settings.interval_scheme,
        sqlite_synchronous=settings.sqlite_synchronous,
    )
    hasher = PasswordHasher(settings.bcrypt_salt_rounds, workers=1)
    try:
        await store.open()
        outcome = await make_admin(store, hasher, email, password, name)
    except StoreError as exc:
        print(f"binance-stats create-admin: the store is unavailable: {exc}", file=sys.stderr)
        return 1
    finally:
        hasher.close()
        await store.close()
    print(f"admin {email.strip().lower()}: {outcome.value}")
    return 0
