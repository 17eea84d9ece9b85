"""Configuration: defaults, `.env`, and one-line errors with exit status 2 for each bad value."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from actors.config import ConfigError, Settings, parse_duration

BAD_VALUES = [
    ("PORT", "abc"),
    ("PORT", "70000"),
    ("DATABASE_URL", "postgres://localhost/db"),
    ("JWT_ACCESS_EXPIRES_IN", "forever"),
    ("BCRYPT_SALT_ROUNDS", "3"),
    ("BCRYPT_SALT_ROUNDS", "32"),
    ("REDIS_PORT", "-1"),
    ("FEED_SHARDS", "0"),
    ("RETENTION_DAYS", "x"),
    ("DB_FLUSH_SECONDS", "0"),
    ("INTERVAL_HOURS", "5"),
    ("INTERVAL_OFFSET_HOURS", "24"),
    ("LOG_LEVEL", "loud"),
    ("APP_ENV", "staging"),
    ("CORS_ORIGINS", "not a url"),
    ("FRONTEND_URL", "localhost:5173"),
    ("REDIS_URL", "http://localhost:6379"),
    ("BINANCE_WS_URL", "https://stream.binance.com"),
    ("SUPER_ADMIN_EMAIL", "nobody"),
    ("SQLITE_SYNCHRONOUS", "off"),
    ("BUS_MAX_MB", "0"),
    ("BUS_MAX_MB", "nan"),
    ("BUS_MAX_MB", "lots"),
    ("SIO_MAX_CONNECTIONS_PER_IP", "0"),
    ("SIO_MAX_CONNECTIONS", "many"),
    ("SIO_REQUESTS_PER_SECOND", "0"),
    ("SIO_MAX_BUFFER_BYTES", "100"),
    ("SIO_EXPENSIVE_READS", "0"),
    ("SIO_SWEEP_SECONDS", "0"),
    ("SIO_RECOVERY_SECONDS", "-1"),
    ("SIO_RECOVERY_SECONDS", "3601"),
    ("SIO_RECOVERY_SECONDS", "two minutes"),
    ("PRICE_DATA_MAX_POINTS", "0"),
    ("REGISTRATIONS_PER_IP_HOUR", "-1"),
    ("LOGIN_MAX_FAILURES", "0"),
    ("METRICS_HOST", "localhost:9400"),
    ("CACHE_WINDOW_SECONDS", "59"),
    ("CACHE_WINDOW_SECONDS", "14401"),
    ("CACHE_WINDOW_SECONDS", "10m"),
]


def test_defaults() -> None:
    settings = Settings.from_env(environ={}, dotenv=None)
    assert settings.port == 5000
    assert settings.database_url == "sqlite:///./data/binance_statistics.db"
    assert settings.bcrypt_salt_rounds == 10
    assert settings.jwt_access_expires_seconds == 7 * 86400
    assert settings.redis.url is None and settings.redis_prefix == "bs:"
    assert (settings.interval_hours, settings.interval_offset_hours) == (4, 1)
    assert settings.db_flush_seconds == 5.0 and settings.retention_days == 30
    assert settings.jwt_secret_generated and len(settings.jwt_access_secret) > 32
    assert settings.sqlite_synchronous == "normal" and settings.bus_max_mb == 128.0


def test_durability_and_bus_bound_are_read() -> None:
    env = {"SQLITE_SYNCHRONOUS": "FULL", "BUS_MAX_MB": "0.004"}
    settings = Settings.from_env(environ=env, dotenv=None)
    assert settings.sqlite_synchronous == "full" and settings.bus_max_mb == 0.004


@pytest.mark.parametrize(("name", "value"), BAD_VALUES)
def test_each_bad_value_is_named(name: str, value: str) -> None:
    env = {name: value}
    if name == "SUPER_ADMIN_EMAIL":
        env["SUPER_ADMIN_PASSWORD"] = "long-enough-password"
    with pytest.raises(ConfigError) as info:
        Settings.from_env(environ=env, dotenv=None)
    assert info.value.name == name
    assert name in str(info.value) and "\n" not in str(info.value)


def test_production_requires_a_jwt_secret() -> None:
    with pytest.raises(ConfigError, match="JWT_ACCESS_SECRET"):
        Settings.from_env(environ={"APP_ENV": "production"}, dotenv=None)
    with pytest.raises(ConfigError, match="JWT_ACCESS_SECRET"):
        Settings.from_env(environ={"NODE_ENV": "production"}, dotenv=None)


def test_production_refuses_a_jwt_secret_under_32_bytes_without_echoing_it() -> None:
    """Issue 12, attack 8: a short HS256 key can be brute-forced from any token."""
    short = {"APP_ENV": "production", "JWT_ACCESS_SECRET": "s3cret-but-short"}
    with pytest.raises(ConfigError, match="JWT_ACCESS_SECRET") as info:
        Settings.from_env(environ=short, dotenv=None)
    assert "s3cret" not in str(info.value) and "32 bytes" in str(info.value)
    long_enough = {**short, "JWT_ACCESS_SECRET": "k" * 32}
    assert Settings.from_env(environ=long_enough, dotenv=None).jwt_access_secret == "k" * 32
    development = {"JWT_ACCESS_SECRET": "short"}
    assert Settings.from_env(environ=development, dotenv=None).jwt_access_secret == "short"


def test_super_admin_needs_both_variables() -> None:
    with pytest.raises(ConfigError, match="SUPER_ADMIN_PASSWORD"):
        Settings.from_env(environ={"SUPER_ADMIN_EMAIL": "root@example.com"}, dotenv=None)


def test_redis_url_overrides_host_and_port() -> None:
    settings = Settings.from_env(
        environ={"REDIS_HOST": "cache", "REDIS_PORT": "6380", "REDIS_URL": "redis://other:7000/1"},
        dotenv=None,
    )
    assert settings.redis.url == "redis://other:7000/1"
    settings = Settings.from_env(
        environ={"REDIS_HOST": "cache", "REDIS_PASSWORD": "pw"}, dotenv=None
    )
    assert settings.redis.url == "redis://:pw@cache:6379/0"


def test_allowed_origins_include_frontend_url() -> None:
    settings = Settings.from_env(
        environ={
            "CORS_ORIGINS": "http://a.example, https://b.example:8443",
            "FRONTEND_URL": "http://localhost:5173",
        },
        dotenv=None,
    )
    assert settings.allowed_origins == (
        "http://a.example",
        "https://b.example:8443",
        "http://localhost:5173",
    )


def test_dotenv_is_read_and_environment_wins(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("# comment\nPORT=6001\nexport LOG_LEVEL='debug'\nREDIS_PREFIX=\"x:\"\n")
    settings = Settings.from_env(environ={"REDIS_PREFIX": "env:"}, dotenv=dotenv)
    assert (settings.port, settings.log_level, settings.redis_prefix) == (6001, "DEBUG", "env:")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("7d", 604800), ("12h", 43200), ("30m", 1800), ("45s", 45), ("3600", 3600)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "abc"),
        ("DATABASE_URL", "ftp://x"),
        ("JWT_ACCESS_EXPIRES_IN", "forever"),
        ("JWT_ACCESS_SECRET", "short"),
    ],
)
def test_cli_exits_2_with_one_line(name: str, value: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {n for n, _ in BAD_VALUES}}
    env[name] = value
    if name == "JWT_ACCESS_SECRET":
        env["APP_ENV"] = "production"
    proc = subprocess.run(
        [sys.executable, "-m", "actors", "run"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert name in lines[0] and "Traceback" not in proc.stderr
