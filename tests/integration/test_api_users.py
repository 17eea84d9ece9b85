"""REST users over real HTTP on SQLite: register, /users/create, login, rate limit, admins."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import jwt
import pytest

from actors.front.admin import create_admin_command
from actors.store import IntervalScheme, open_store
from actors.store.base import Store
from tests.helpers import make_settings
from tests.integration.api_harness import Api, ServeApp, running_api

REGISTER = "/api/v1/users/register"
LOGIN = "/api/v1/users/login"


@pytest.fixture
async def api(sqlite_store: Store, serve_app: ServeApp) -> AsyncIterator[Api]:
    async with running_api(sqlite_store, serve_app) as api:
        yield api


def _body(email: str, **extra: object) -> dict[str, object]:
    return {"name": "Ann", "email": email, "password": "password-123", **extra}


async def test_register_answers_the_user_without_its_hash(api: Api) -> None:
    reply = await api.call("POST", REGISTER, json=_body("Ann@Example.com"))
    assert reply.status == 201
    assert reply.body["success"] is True and reply.body["message"]
    user = reply.data
    assert set(user) == {"id", "name", "email", "role", "createdAt", "updatedAt"}
    assert user["email"] == "ann@example.com" and user["role"] == "user"
    assert isinstance(user["createdAt"], int)


@pytest.mark.parametrize("path", [REGISTER, "/api/v1/users/create"])
@pytest.mark.parametrize("role", ["admin", "superAdmin"])
async def test_a_role_in_the_body_never_grants_more_than_user(
    api: Api, path: str, role: str
) -> None:
    reply = await api.call("POST", path, json=_body(f"{role}@example.com", role=role))
    assert reply.status == 201 and reply.data["role"] == "user"
    token = await api.login(f"{role}@example.com")
    assert jwt.decode(token, options={"verify_signature": False})["role"] == "user"
    refused = await api.call("POST", "/api/v1/symbols", token=token, bare=True, json={})
    assert refused.status == 403


async def test_duplicate_email_is_409_whatever_the_case(api: Api) -> None:
    await api.register("dup@example.com")
    reply = await api.call("POST", "/api/v1/users/create", json=_body("DUP@example.com"))
    assert reply.status == 409
    assert reply.body["success"] is False and reply.paths == ["email"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Ann", "password": "password-123"}, "email"),
        (_body("not-an-email"), "email"),
        ({**_body("a@example.com"), "password": "short"}, "password"),
        ({**_body("a@example.com"), "password": "é" * 40}, "password"),
        ({**_body("a@example.com"), "name": 5}, "name"),
        ({**_body("a@example.com"), "name": "   "}, "name"),
    ],
)
async def test_invalid_registration_is_400_naming_the_field(
    api: Api, body: dict[str, object], field: str
) -> None:
    reply = await api.call("POST", REGISTER, json=body)
    assert reply.status == 400, reply.body
    assert reply.body["success"] is False and reply.paths == [field]
    assert await api.store.get_user_by_email("a@example.com") is None


async def test_bad_bodies_are_400_413_415_never_500(api: Api) -> None:
    malformed = await api.call(
        "POST", REGISTER, data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert malformed.status == 400 and malformed.paths == ["body"]
    empty = await api.call("POST", REGISTER, data=b"", headers={"Content-Type": "application/json"})
    assert empty.status == 400
    array = await api.call("POST", REGISTER, json=[1, 2])
    assert array.status == 400
    form = await api.call("POST", REGISTER, data=b"name=a", headers={"Content-Type": "text/plain"})
    assert form.status == 415 and form.body["success"] is False
    oversized = b'{"name": "' + b"x" * (1024 * 1024 + 10) + b'"}'
    huge = await api.call(
        "POST", REGISTER, data=io.BytesIO(oversized), headers={"Content-Type": "application/json"}
    )
    assert huge.status == 413 and huge.body["success"] is False


async def test_login_token_carries_the_dashboard_claims(api: Api) -> None:
    user = (await api.register("claims@example.com", name="Claire")).data
    reply = await api.call(
        "POST", LOGIN, json={"email": "CLAIMS@example.com", "password": "password-123"}
    )
    assert reply.status == 200 and set(reply.data) == {"accessToken"}
    token = reply.data["accessToken"]
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = jwt.decode(token, api.settings.jwt_access_secret, algorithms=["HS256"])
    assert {k: claims[k] for k in ("userId", "name", "email", "role")} == {
        "userId": user["id"],
        "name": "Claire",
        "email": "claims@example.com",
        "role": "user",
    }
    assert claims["exp"] - claims["iat"] == 7 * 86400


async def test_wrong_password_and_unknown_email_are_the_same_401(api: Api) -> None:
    await api.register("who@example.com")
    wrong = await api.call(
        "POST", LOGIN, json={"email": "who@example.com", "password": "nope-nope"}
    )
    unknown = await api.call(
        "POST", LOGIN, json={"email": "nobody@example.com", "password": "nope-nope"}
    )
    assert wrong.status == unknown.status == 401
    assert wrong.body["message"] == unknown.body["message"]


async def test_failed_logins_per_email_get_429_with_retry_after(api: Api) -> None:
    await api.register("target@example.com")
    await api.register("other@example.com")
    for _ in range(10):
        reply = await api.call(
            "POST", LOGIN, json={"email": "target@example.com", "password": "wrong-guess"}
        )
        assert reply.status == 401
    limited = await api.call(
        "POST", LOGIN, json={"email": "target@example.com", "password": "password-123"}
    )
    assert limited.status == 429 and limited.body["success"] is False
    assert 0 < int(limited.headers["Retry-After"]) <= 15 * 60
    # another account's normal session from the same client is not refused
    assert await api.login("other@example.com")


async def test_successful_logins_are_never_counted(api: Api) -> None:
    await api.register("often@example.com")
    for _ in range(70):
        await api.login("often@example.com")


async def test_failed_logins_per_ip_get_429(api: Api) -> None:
    for index in range(60):
        reply = await api.call(
            "POST", LOGIN, json={"email": f"x{index}@example.com", "password": "wrong-guess"}
        )
        assert reply.status == 401
    limited = await api.call(
        "POST", LOGIN, json={"email": "fresh@example.com", "password": "wrong-guess"}
    )
    assert limited.status == 429 and 0 < int(limited.headers["Retry-After"]) <= 60


async def test_create_admin_command_creates_then_promotes(
    sqlite_url: str, serve_app: ServeApp
) -> None:
    settings = make_settings(DATABASE_URL=sqlite_url)
    assert await create_admin_command(settings, "boss@example.com", "boss-password", "Boss") == 0
    assert await create_admin_command(settings, "bad-email", "boss-password", "Boss") == 2
    assert await create_admin_command(settings, "boss@example.com", "short", "Boss") == 2
    store = open_store(sqlite_url, IntervalScheme())
    await store.open()
    try:
        async with running_api(store, serve_app, DATABASE_URL=sqlite_url) as api:
            boss = jwt.decode(
                await api.login("boss@example.com", "boss-password"),
                options={"verify_signature": False},
            )
            assert boss["role"] == "admin"
            await api.register("promote@example.com")
            user_token = await api.login("promote@example.com")
            assert (
                await api.call("DELETE", "/api/v1/symbols/none", token=user_token)
            ).status == 403
            # an existing non-admin account is promoted only when asked
            assert (
                await create_admin_command(settings, "promote@example.com", "new-password-1", "P")
                == 2
            )
            assert await api.login("promote@example.com")  # unchanged
            assert (
                await create_admin_command(
                    settings, "promote@example.com", "new-password-1", "P", promote=True
                )
                == 0
            )
            # the token from before the promotion is void; a new login is an admin's
            stale = await api.call("DELETE", "/api/v1/symbols/none", token=user_token)
            assert stale.status == 401 and "log in again" in stale.body["message"]
            admin_token = await api.login("promote@example.com", "new-password-1")
            assert (
                await api.call("DELETE", "/api/v1/symbols/none", token=admin_token)
            ).status == 404
    finally:
        await store.close()


async def test_super_admin_from_the_environment_is_made_once(
    sqlite_store: Store, serve_app: ServeApp
) -> None:
    env = {"SUPER_ADMIN_EMAIL": "root@example.com", "SUPER_ADMIN_PASSWORD": "root-password"}
    for _ in range(2):  # a second start changes nothing
        async with running_api(sqlite_store, serve_app, **env) as api:
            token = await api.login("root@example.com", "root-password")
            assert jwt.decode(token, options={"verify_signature": False})["role"] == "admin"
    user = await sqlite_store.get_user_by_email("root@example.com")
    assert user is not None and user.role == "admin"
    assert user.created_at == user.updated_at


async def test_super_admin_password_is_never_logged(
    sqlite_store: Store, serve_app: ServeApp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    await sqlite_store.create_user("R", "root@example.com", "not-a-hash", "user")
    env = {"SUPER_ADMIN_EMAIL": "root@example.com", "SUPER_ADMIN_PASSWORD": "secret-root-pw"}
    async with running_api(sqlite_store, serve_app, **env) as api:
        assert await api.login("root@example.com", "secret-root-pw")
    assert "secret-root-pw" not in caplog.text
    assert "root@example.com" in caplog.text  # the promotion was logged


def test_create_admin_from_the_command_line(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "BCRYPT_SALT_ROUNDS": "4",
        "JWT_ACCESS_SECRET": "cli-secret-" + "z" * 32,
    }
    command = [sys.executable, "-m", "actors", "create-admin", "--email", "Cli@Example.com"]
    done = subprocess.run(
        [*command, "--password-stdin"],
        input="cli-password-1\n",
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "cli@example.com" in done.stdout and "cli-password-1" not in done.stdout + done.stderr
    bad = subprocess.run(
        command,
        input="",
        env=env | {"ADMIN_PASSWORD": "short"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "8 characters" in bad.stderr and "Traceback" not in bad.stderr
