"""Pure input handling of the REST front: times, ranges, tokens, CORS origins, error paths."""

from __future__ import annotations

import asyncio
import contextlib

import msgspec
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from actors.front.auth import HasherBusy, PasswordHasher, token_from
from actors.front.cors import CorsPolicy
from actors.front.errors import ApiError, validation_error
from actors.front.schemas import PriceRangeQuery, RegisterBody, parse_time, resolve_range

HOUR = 3_600_000


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("1707210000000", 1707210000000),
        ("2024-02-06T09:00:00Z", 1707210000000),
        ("2024-02-06T10:00:00+01:00", 1707210000000),
        ("2024-02-06T10:00:00 01:00", 1707210000000),
        ("2024-02-06T09:00:00", 1707210000000),
        ("2024-02-06T09:00:00.250Z", 1707210000250),
        ("2024-02-06", 1707177600000),
    ],
)
def test_times_parse_from_iso_or_epoch_ms(text: str, ms: int) -> None:
    assert parse_time("startTime", text) == ms


@pytest.mark.parametrize("text", ["", "yesterday", "1e12", "-5", "2024-02-30T00:00:00Z", "12:00"])
def test_bad_times_name_the_parameter(text: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_time("endTime", text)
    assert caught.value.status == 400 and caught.value.sources[0].path == "endTime"


def test_range_defaults_and_limits() -> None:
    now = 100 * HOUR
    assert resolve_range(PriceRangeQuery(), now) == (now - HOUR, now)
    assert resolve_range(PriceRangeQuery(end_time=str(50 * HOUR)), now) == (49 * HOUR, 50 * HOUR)
    assert resolve_range(PriceRangeQuery(start_time=str(99 * HOUR)), now) == (99 * HOUR, now)
    assert resolve_range(PriceRangeQuery(str(10 * HOUR), str(34 * HOUR)), now) == (
        10 * HOUR,
        34 * HOUR,
    )
    with pytest.raises(ApiError) as too_long:
        resolve_range(PriceRangeQuery(str(10 * HOUR), str(34 * HOUR + 1)), now)
    assert too_long.value.sources[0].path == "endTime"
    with pytest.raises(ApiError) as reversed_range:
        resolve_range(PriceRangeQuery(str(11 * HOUR), str(10 * HOUR)), now)
    assert reversed_range.value.sources[0].path == "startTime"


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc.def.ghi", "abc.def.ghi"),
        ("bearer  abc", "abc"),
        ("abc.def.ghi", "abc.def.ghi"),
        ("", None),
        ("Bearer", None),
        ("Bearer ", None),
        ("Basic dXNlcg==", None),
    ],
)
def test_token_from_bearer_or_bare(header: str, token: str | None) -> None:
    request = make_mocked_request("GET", "/", headers={"Authorization": header} if header else {})
    assert token_from(request) == token


def test_cors_policy() -> None:
    policy = CorsPolicy(("http://localhost:5173", "https://dash.example.com"))
    assert policy.allows("http://localhost:5173")
    assert not policy.allows("http://localhost:5174")
    assert not policy.allows("null")
    assert CorsPolicy(("*",)).allows("https://anything.example")
    assert not CorsPolicy(()).allows("http://localhost:5173")


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        (b'{"email": "a@b.io", "password": "secret-1"}', "name"),
        (b'{"name": "A", "email": 5, "password": "secret-1"}', "email"),
        (b"[1]", "body"),
        (b"{oops", "body"),
    ],
)
def test_validation_errors_name_the_field(raw: bytes, path: str) -> None:
    try:
        msgspec.json.decode(raw, type=RegisterBody)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        error = validation_error(exc, "body")
    else:
        raise AssertionError("decoded")
    assert error.status == 400 and error.sources[0].path == path


async def test_hasher_round_trip_and_busy_bound() -> None:
    hasher = PasswordHasher(4, workers=1, max_pending=1, max_pending_hashes=1)
    try:
        digest = await hasher.hash("password-123")
        assert await hasher.verify("password-123", digest)
        assert not await hasher.verify("password-124", digest)
        assert not await hasher.verify("password-123", None)
        assert not await hasher.verify("password-123", "not-a-hash")
        assert not await hasher.verify("x" * 80, digest)
        results = await asyncio.gather(
            hasher.hash("a-password"), hasher.hash("b-password"), return_exceptions=True
        )
        busy = [r for r in results if isinstance(r, HasherBusy)]
        assert len(busy) == 1 and busy[0].status == 503
        # checks (logins) have their own lane: a full hashing lane does not refuse them
        blocked = asyncio.gather(hasher.hash("c-password"), hasher.hash("d-password"))
        assert not await hasher.verify("password-124", digest)
        with contextlib.suppress(HasherBusy):
            await blocked
    finally:
        hasher.close()


def test_api_error_is_an_exception_with_sources() -> None:
    error = ApiError.field(404, "symbol", "Unknown symbol X")
    assert isinstance(error, Exception) and not isinstance(error, web.HTTPException)
    assert error.sources[0].message == "Unknown symbol X"
