"""Issue 12, attacks 3, 4 and 5 replayed over real HTTP (real app, SQLite, bcrypt) from distinct
loopback client addresses: stale privileges, a registration flood, and a lockout of the owner."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from actors.front.admin import create_admin_command
from actors.store import IntervalScheme, Store, open_store
from tests.helpers import make_settings
from tests.integration.api_harness import ServeApp, running_api

REGISTER = "/api/v1/users/register"
LOGIN = "/api/v1/users/login"
ADMIN_ROUTE = "/api/v1/symbols"


@asynccontextmanager
async def client_at(address: str) -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client whose connections come from `address` (any of 127.0.0.0/8)."""
    connector = aiohttp.TCPConnector(local_addr=(address, 0))
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


async def post(
    session: aiohttp.ClientSession, url: str, body: Any, token: str | None = None
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with session.post(url, json=body, headers=headers) as response:
        return response.status, await response.json()


def account(email: str, password: str = "password-123") -> dict[str, str]:
    return {"name": "N", "email": email, "password": password}


async def test_a_token_from_before_a_promotion_is_refused(
    sqlite_url: str, serve_app: ServeApp
) -> None:
    """Attack 3: a squatter registers the admin's email, then the operator promotes it."""
    settings = make_settings(DATABASE_URL=sqlite_url)
    store = open_store(sqlite_url, IntervalScheme())
    await store.open()
    try:
        async with running_api(store, serve_app, DATABASE_URL=sqlite_url) as api:
            await api.register("boss@example.com", "squatter-pw-1")
            squatter = await api.login("boss@example.com", "squatter-pw-1")
            promoted = await create_admin_command(
                settings, "boss@example.com", "boss-password-1", "Boss", promote=True
            )
            assert promoted == 0
            symbol = {"symbol": "EVILUSDT", "baseAsset": "EVIL", "quoteAsset": "USDT"}
            stale = await api.call("POST", ADMIN_ROUTE, json=symbol, token=squatter)
            assert stale.status == 401 and stale.paths == ["authorization"]
            assert await store.get_symbol_by_name("EVILUSDT") is None
            wrong = await api.call("POST", LOGIN, json=account("boss@example.com", "squatter-pw-1"))
            assert wrong.status == 401  # the password went with the promotion
            boss = await api.login("boss@example.com", "boss-password-1")
            assert (await api.call("POST", ADMIN_ROUTE, json=symbol, token=boss)).status == 201
    finally:
        await store.close()


async def test_the_configured_super_admin_voids_a_squatters_token(
    sqlite_store: Store, serve_app: ServeApp
) -> None:
    async with running_api(sqlite_store, serve_app) as api:
        await api.register("root@example.com", "squatter-pw-1")
        squatter = await api.login("root@example.com", "squatter-pw-1")
    env = {"SUPER_ADMIN_EMAIL": "root@example.com", "SUPER_ADMIN_PASSWORD": "root-password-1"}
    async with running_api(sqlite_store, serve_app, **env) as api:
        reply = await api.call("DELETE", f"{ADMIN_ROUTE}/none", token=squatter)
        assert reply.status == 401


async def test_create_admin_refuses_an_existing_user_without_promote(
    sqlite_url: str, serve_app: ServeApp
) -> None:
    settings = make_settings(DATABASE_URL=sqlite_url)
    store = open_store(sqlite_url, IntervalScheme())
    await store.open()
    try:
        await store.create_user("U", "user@example.com", "not-a-hash", "user")
        assert await create_admin_command(settings, "user@example.com", "pw-pw-pw-1", "U") == 2
        user = await store.get_user_by_email("user@example.com")
        assert user is not None and user.role == "user" and user.token_version == 0
        assert await create_admin_command(settings, "user@example.com", None, "U") == 2
    finally:
        await store.close()


def test_create_admin_never_takes_the_password_as_an_argument(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "BCRYPT_SALT_ROUNDS": "4",
        "JWT_ACCESS_SECRET": "cli-secret-" + "z" * 32,
    }
    command = [sys.executable, "-m", "actors", "create-admin", "--email", "a@example.com"]

    def run(*extra: str, stdin: str = "", **more: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, *extra],
            input=stdin,
            env=env | more,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )

    refused = run("--password", "in-ps-output-1")
    assert refused.returncode == 2 and "--password" in refused.stderr
    no_way_to_ask = run()  # stdin is not a terminal, no variable, no --password-stdin
    assert no_way_to_ask.returncode == 2
    assert len(no_way_to_ask.stderr.strip().splitlines()) == 1
    assert "ADMIN_PASSWORD" in no_way_to_ask.stderr
    from_env = run(ADMIN_PASSWORD="from-env-pw-1")
    assert from_env.returncode == 0, from_env.stderr
    again = run("--password-stdin", stdin="from-stdin-pw-1\n")
    assert again.returncode == 0 and "password updated" in again.stdout


async def test_a_registration_flood_never_refuses_a_login(
    sqlite_store: Store, serve_app: ServeApp
) -> None:
    """Attack 4: 70 concurrent registrations from 70 addresses, logins meanwhile."""
    async with running_api(sqlite_store, serve_app, BCRYPT_SALT_ROUNDS="8") as api:
        await api.admin_token()  # the admin exists
        url = api.base

        async def register_from(i: int) -> int:
            async with client_at(f"127.0.1.{i + 1}") as session:
                status, _ = await post(session, url + REGISTER, account(f"f{i}@example.com"))
                return status

        async def admin_login() -> int:
            await asyncio.sleep(0.01)  # the flood is in flight
            body = {"email": "admin@example.com", "password": "admin-password-1"}
            async with client_at("127.0.2.1") as session:
                status, _ = await post(session, url + LOGIN, body)
                return status

        results = await asyncio.gather(
            *(register_from(i) for i in range(70)), *(admin_login() for _ in range(5))
        )
        registrations, logins = results[:70], results[70:]
        assert logins == [200] * 5
        # the registration lane sheds its own excess (503), the overall rate the rest (429)
        assert set(registrations) <= {201, 429, 503}


async def test_registrations_are_limited_per_address(
    sqlite_store: Store, serve_app: ServeApp
) -> None:
    async with running_api(sqlite_store, serve_app, REGISTRATIONS_PER_IP_HOUR="5") as api:
        async with client_at("127.0.3.1") as flood, client_at("127.0.3.2") as other:
            statuses = []
            for i in range(8):
                status, body = await post(flood, api.base + REGISTER, account(f"r{i}@example.com"))
                statuses.append(status)
            assert statuses == [201] * 5 + [429] * 3
            assert body["success"] is False
            status, _ = await post(other, api.base + REGISTER, account("other@example.com"))
            assert status == 201


async def test_ten_wrong_passwords_do_not_lock_the_owner_out(
    sqlite_store: Store, serve_app: ServeApp
) -> None:
    """Attack 5: the attacker's address waits; the owner's clean address gets in."""
    async with running_api(sqlite_store, serve_app) as api:
        admin = await api.admin_token()
        assert admin
        right = {"email": "admin@example.com", "password": "admin-password-1"}
        wrong = {**right, "password": "guess-guess"}
        async with client_at("127.0.4.66") as attacker, client_at("127.0.4.1") as owner:
            for _ in range(10):
                assert (await post(attacker, api.base + LOGIN, wrong))[0] == 401
            for _ in range(3):  # repeating keeps only the attacker out
                status, _ = await post(attacker, api.base + LOGIN, right)
                assert status == 429
            status, body = await post(owner, api.base + LOGIN, right)
            assert status == 200 and body["data"]["accessToken"]
