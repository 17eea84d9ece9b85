"""Admin accounts: `binance-stats create-admin` and the SUPER_ADMIN_* account made at start.

Both create the account; an existing non-admin account is promoted (and its password set) only
when asked (`--promote`, or it is the configured SUPER_ADMIN_EMAIL). A promotion bumps the
account's token version, so tokens issued before it (perhaps to whoever registered the email
first) stop working. Passwords are never logged nor taken on the command line (docs/security.md §2).
"""

from __future__ import annotations

import getpass
import logging
import os
import re
import sys
from enum import Enum
from typing import TextIO

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
    REFUSED = "refused: an existing non-admin account (pass --promote to make it admin)"


PASSWORD_ENV = "ADMIN_PASSWORD"


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
    store: Store,
    hasher: PasswordHasher,
    email: str,
    password: str,
    name: str,
    *,
    promote: bool = False,
) -> AdminOutcome:
    """Create `email` as admin; an existing admin gets this password; an existing non-admin
    is promoted only with `promote` (else REFUSED, nothing changed)."""
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
    if existing.role != ADMIN_ROLE and not promote:
        return AdminOutcome.REFUSED
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
            store,
            hasher,
            settings.super_admin_email,
            settings.super_admin_password,
            "Super Admin",
            promote=True,  # the operator named this email: whoever registered it first loses it
        )
    finally:
        if own:
            hasher.close()
    if outcome is AdminOutcome.PROMOTED:
        log.warning(
            "super admin %s: promoted an existing non-admin account (its earlier tokens are void)",
            settings.super_admin_email,
        )
    elif outcome is not AdminOutcome.UNCHANGED:
        log.info("super admin %s: %s", settings.super_admin_email, outcome.value)


def read_admin_password(from_stdin: bool, stdin: TextIO | None = None) -> str | None:
    """The new admin's password: the first line of stdin (`--password-stdin`), else
    $ADMIN_PASSWORD, else a prompt (twice) on a terminal; None when there is no way to ask."""
    stdin = stdin or sys.stdin
    if from_stdin:
        return stdin.readline().rstrip("\r\n")
    if os.environ.get(PASSWORD_ENV):
        return os.environ[PASSWORD_ENV]
    if not stdin.isatty():
        return None
    first = getpass.getpass("Password for the admin: ")
    if getpass.getpass("Repeat it: ") != first:
        print("binance-stats create-admin: the passwords differ", file=sys.stderr)
        return None
    return first


async def create_admin_command(
    settings: Settings, email: str, password: str | None, name: str, *, promote: bool = False
) -> int:
    """`binance-stats create-admin --email E [--promote] [--password-stdin]`: 0 done, 2 bad
    input or a non-admin account without --promote, 1 store down."""
    if password is None:
        print(
            "binance-stats create-admin: no password: pipe it with --password-stdin, set "
            f"{PASSWORD_ENV}, or run on a terminal to be asked",
            file=sys.stderr,
        )
        return 2
    problem = admin_input_problem(email, password, name)
    if problem:
        print(f"binance-stats create-admin: {problem}", file=sys.stderr)
        return 2
    store = open_store(
        settings.database_url,
        settings.interval_scheme,
    )
    hasher = PasswordHasher(settings.bcrypt_salt_rounds, workers=1)
    try:
        await store.open()
        outcome = await make_admin(store, hasher, email, password, name, promote=promote)
    except StoreError as exc:
        print(f"binance-stats create-admin: the store is unavailable: {exc}", file=sys.stderr)
        return 1
    finally:
        hasher.close()
        await store.close()
    if outcome is AdminOutcome.REFUSED:
        print(f"binance-stats create-admin: {email.strip().lower()}: {outcome.value}", file=sys.stderr)
        return 2
    print(f"admin {email.strip().lower()}: {outcome.value}")
    return 0
