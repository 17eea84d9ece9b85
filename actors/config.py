"""Settings read once from the environment (and an optional `.env`), validated, then passed down."""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

from actors.store.intervals import IntervalScheme

T = TypeVar("T")
MIN_JWT_SECRET_BYTES = 32
# the roles of the process tree (actors/topology/roles.py declares them), in start order
ROLE_CHOICES = ("db-writer", "cache-writer", "front", "feed")


class ConfigError(Exception):
    """A bad configuration value; the message is one line naming the variable."""

    def __init__(self, name: str, value: str, accepts: str) -> None:
        super().__init__(f"invalid {name}={value!r}: expected {accepts}")
        self.name = name


_DURATION = re.compile(r"^(\d+)\s*(ms|s|m|h|d|w|y)?$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31557600}


def parse_duration(text: str) -> float:
    """Seconds from a jsonwebtoken-style span: `7d`, `12h`, `30m`, `45s`, `3600` (seconds)."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(text)
    amount, unit = int(match.group(1)), match.group(2) or "s"
    seconds = amount * _UNIT_SECONDS[unit]
    if seconds <= 0:
        raise ValueError(text)
    return seconds


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse a `.env` file: KEY=VALUE lines, `#` comments, optional quotes, `export ` prefix."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


@dataclass(frozen=True)
class RedisSettings:
    """Where Redis is; `url` is None when no Redis is configured (embedded memory cache and bus)."""

    url: str | None
    prefix: str


@dataclass(frozen=True)
class Settings:
    """Every variable of the README's Configuration table, typed; `Settings.from_env()`."""

    app_env: str = "development"
    port: int = 5000
    host: str = "0.0.0.0"
    database_url: str = "sqlite:///./data/binance_statistics.db"
    bcrypt_salt_rounds: int = 10
    jwt_access_secret: str = ""
    jwt_access_expires_in: str = "7d"
    jwt_access_expires_seconds: float = 7 * 86400
    binance_api_key: str = ""
    binance_secret_key: str = ""
    binance_ws_url: str = "wss://stream.binance.com:9443"
    binance_rest_url: str = "https://api.binance.com"
    redis_host: str = ""
    redis_port: int = 6379
    redis_password: str = ""
    redis_url: str = ""
    redis_prefix: str = "bs:"
    feed_shards: int = 1
    roles: tuple[str, ...] = ROLE_CHOICES  # the programs this host runs in tree mode
    fronts: int = 1  # front processes on this host (tree mode), on PORT, PORT+1, ...
    feed_host_shards: tuple[int, int] | None = None  # shards K..L this host runs; None: all
    retention_days: int = 30
    db_flush_seconds: float = 5.0
    db_buffer_points: int = 300_000
    sqlite_synchronous: str = "normal"
    bus_max_mb: float = 128.0
    cors_origins: tuple[str, ...] = ()
    frontend_url: str = ""
    log_level: str = "INFO"
    log_format: str = "text"
    interval_hours: int = 4
    interval_offset_hours: int = 1
    super_admin_email: str = ""
    super_admin_password: str = field(default="", repr=False)
    metrics_base_port: int = 9400
    feed_max_reconnects: int = 10
    feed_backoff_max_seconds: float = 10.0
    cache_window_seconds: int = 4 * 3600
    listing_check_seconds: int = 300
    jwt_secret_generated: bool = False
    metrics_host: str = "127.0.0.1"
    sio_max_connections_per_ip: int = 20
    sio_max_connections: int = 10_000
    sio_requests_per_second: int = 20
    sio_max_buffer_bytes: int = 256 * 1024
    sio_expensive_reads: int = 4
    requests_per_turn: int = 1
    requests_waiting_max: int = 2000
    sio_sweep_seconds: float = 30.0
    sio_recovery_seconds: float = 120.0
    price_data_max_points: int = 10_000
    registrations_per_ip_hour: int = 10
    registrations_per_minute: int = 60
    login_max_failures: int = 10

    @property
    def interval_scheme(self) -> IntervalScheme:
        """The 4-hour interval arithmetic these settings describe (docs/architecture.md §4)."""
        return IntervalScheme(self.interval_hours, self.interval_offset_hours)

    @property
    def cache_window_ms(self) -> int:
        """How much of each symbol's series the cache keeps (4 h; a soak shortens it)."""
        return self.cache_window_seconds * 1000

    @property
    def production(self) -> bool:
        return self.app_env == "production"

    @property
    def redis(self) -> RedisSettings:
        """Redis location: `REDIS_URL` wins over `REDIS_HOST`/`REDIS_PORT`/`REDIS_PASSWORD`."""
        if self.redis_url:
            return RedisSettings(self.redis_url, self.redis_prefix)
        if not self.redis_host:
            return RedisSettings(None, self.redis_prefix)
        auth = f":{self.redis_password}@" if self.redis_password else ""
        return RedisSettings(
            f"redis://{auth}{self.redis_host}:{self.redis_port}/0", self.redis_prefix
        )

    @property
    def allowed_origins(self) -> tuple[str, ...]:
        """CORS origins: `CORS_ORIGINS` plus `FRONTEND_URL`."""
        extra = (self.frontend_url,) if self.frontend_url else ()
        return tuple(dict.fromkeys(self.cors_origins + extra))

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, dotenv: Path | None = Path(".env")
    ) -> Settings:
        """Read and validate; raises ConfigError naming the first bad variable."""
        env: dict[str, str] = read_dotenv(dotenv) if dotenv is not None else {}
        env.update(os.environ if environ is None else environ)
        return _Reader(env).settings()


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def get(self, name: str, default: T, parse: Callable[[str], T], accepts: str) -> T:
        raw = self.env.get(name)
        if raw is None or raw.strip() == "":
            return default
        try:
            return parse(raw.strip())
        except (ValueError, TypeError):
            raise ConfigError(name, raw, accepts) from None

    def int_in(self, name: str, default: int, low: int, high: int) -> int:
        def parse(text: str) -> int:
            value = int(text)
            if not low <= value <= high:
                raise ValueError(text)
            return value

        return self.get(name, default, parse, f"an integer from {low} to {high}")

    def float_in(self, name: str, default: float, low: float, high: float) -> float:
        def parse(text: str) -> float:
            value = float(text)
            if not low <= value <= high:
                raise ValueError(text)
            return value

        return self.get(name, default, parse, f"a number from {low:g} to {high:g}")

    def choice(self, name: str, default: str, options: tuple[str, ...]) -> str:
        def parse(text: str) -> str:
            if text.lower() not in options:
                raise ValueError(text)
            return text.lower()

        return self.get(name, default, parse, "one of " + ", ".join(options))

    def url(self, name: str, default: str, schemes: tuple[str, ...]) -> str:
        def parse(text: str) -> str:
            parsed = urlparse(text)
            if parsed.scheme not in schemes or not (parsed.netloc or parsed.path):
                raise ValueError(text)
            return text.rstrip("/")

        return self.get(name, default, parse, "a URL with scheme " + " or ".join(schemes))

    def text(self, name: str, default: str = "") -> str:
        return self.get(name, default, str, "text")

    def settings(self) -> Settings:
        app_env = self.choice("APP_ENV", "", ("development", "production", "test"))
        if not app_env:
            app_env = self.choice("NODE_ENV", "development", ("development", "production", "test"))
        expires = self.text("JWT_ACCESS_EXPIRES_IN", "7d")
        expires_seconds = self.get(
            "JWT_ACCESS_EXPIRES_IN",
            7 * 86400.0,
            parse_duration,
            "a duration such as 7d, 12h, 30m, 45s or a number of seconds",
        )
        secret = self.text("JWT_ACCESS_SECRET")
        generated = False
        if not secret:
            if app_env == "production":
                raise ConfigError("JWT_ACCESS_SECRET", "", "a non-empty secret in production")
            secret, generated = secrets.token_urlsafe(48), True
        elif app_env == "production" and len(secret.encode()) < MIN_JWT_SECRET_BYTES:
            # HS256 keys shorter than the hash (RFC 7518 §3.2) can be brute-forced offline
            # from any one token; the value itself is never echoed
            raise ConfigError(
                "JWT_ACCESS_SECRET", "***", f"at least {MIN_JWT_SECRET_BYTES} bytes in production"
            )
        no_origins: tuple[str, ...] = ()
        origins = self.get(
            "CORS_ORIGINS",
            no_origins,
            _parse_origins,
            "a comma-separated list of http(s) origins or *",
        )
        frontend = self.get(
            "FRONTEND_URL", "", _parse_origin, "an http(s) origin such as http://localhost:5173"
        )
        email = self.get("SUPER_ADMIN_EMAIL", "", _parse_email, "an email address")
        password = self.text("SUPER_ADMIN_PASSWORD")
        if bool(email) != bool(password):
            missing = "SUPER_ADMIN_PASSWORD" if email else "SUPER_ADMIN_EMAIL"
            raise ConfigError(
                missing,
                "",
                "to be set together with its pair SUPER_ADMIN_EMAIL/SUPER_ADMIN_PASSWORD",
            )
        if password and len(password) < 8:
            raise ConfigError("SUPER_ADMIN_PASSWORD", "***", "at least 8 characters")
        shards = self.int_in("FEED_SHARDS", 1, 1, 64)
        host_shards = self.get(
            "FEED_HOST_SHARDS", None, _parse_range, "a shard K or range K-L (0 <= K <= L)"
        )
        if host_shards is not None and host_shards[1] >= shards:
            raise ConfigError(
                "FEED_HOST_SHARDS", self.env["FEED_HOST_SHARDS"], f"shards within 0..{shards - 1}"
            )
        return Settings(
            app_env=app_env,
            port=self.int_in("PORT", 5000, 1, 65535),
            host=self.text("HOST", "0.0.0.0"),
            database_url=self.url(
                "DATABASE_URL",
                "sqlite:///./data/binance_statistics.db",
                ("sqlite", "mongodb", "mongodb+srv"),
            ),
            bcrypt_salt_rounds=self.int_in("BCRYPT_SALT_ROUNDS", 10, 4, 31),
            jwt_access_secret=secret,
            jwt_access_expires_in=expires,
            jwt_access_expires_seconds=expires_seconds,
            binance_api_key=self.text("BINANCE_API_KEY"),
            binance_secret_key=self.text("BINANCE_SECRET_KEY"),
            binance_ws_url=self.url(
                "BINANCE_WS_URL", "wss://stream.binance.com:9443", ("ws", "wss")
            ),
            binance_rest_url=self.url(
                "BINANCE_REST_URL", "https://api.binance.com", ("http", "https")
            ),
            redis_host=self.text("REDIS_HOST"),
            redis_port=self.int_in("REDIS_PORT", 6379, 1, 65535),
            redis_password=self.text("REDIS_PASSWORD"),
            redis_url=self.url("REDIS_URL", "", ("redis", "rediss", "unix")),
            redis_prefix=self.get(
                "REDIS_PREFIX", "bs:", _parse_prefix, "1-64 characters without spaces"
            ),
            feed_shards=shards,
            feed_host_shards=host_shards,
            roles=self.get(
                "ROLES", ROLE_CHOICES, _parse_roles, "a comma list of " + ", ".join(ROLE_CHOICES)
            ),
            fronts=self.int_in("FRONTS", 1, 1, 7),
            retention_days=self.int_in("RETENTION_DAYS", 30, 1, 3650),
            db_flush_seconds=self.float_in("DB_FLUSH_SECONDS", 5.0, 0.01, 3600),
            db_buffer_points=self.int_in("DB_BUFFER_POINTS", 300_000, 1, 100_000_000),
            sqlite_synchronous=self.choice("SQLITE_SYNCHRONOUS", "normal", ("normal", "full")),
            bus_max_mb=self.float_in("BUS_MAX_MB", 128.0, 0.001, 1_048_576),
            cors_origins=origins,
            frontend_url=frontend,
            log_level=self.choice(
                "LOG_LEVEL", "info", ("debug", "info", "warning", "error", "critical")
            ).upper(),
            log_format=self.choice("LOG_FORMAT", "text", ("text", "json")),
            interval_hours=self.get(
                "INTERVAL_HOURS",
                4,
                _parse_interval_hours,
                "a divisor of 24 (1, 2, 3, 4, 6, 8, 12, 24)",
            ),
            interval_offset_hours=self.int_in("INTERVAL_OFFSET_HOURS", 1, 0, 23),
            super_admin_email=email,
            super_admin_password=password,
            metrics_base_port=self.int_in("METRICS_BASE_PORT", 9400, 1024, 65000),
            feed_max_reconnects=self.int_in("FEED_MAX_RECONNECTS", 10, 1, 1000),
            feed_backoff_max_seconds=self.float_in("FEED_BACKOFF_MAX_SECONDS", 10.0, 0.01, 600),
            cache_window_seconds=self.int_in("CACHE_WINDOW_SECONDS", 4 * 3600, 60, 4 * 3600),
            listing_check_seconds=self.int_in("LISTING_CHECK_SECONDS", 300, 10, 86400),
            jwt_secret_generated=generated,
            metrics_host=self.get(
                "METRICS_HOST", "127.0.0.1", _parse_host, "an IP address such as 127.0.0.1"
            ),
            sio_max_connections_per_ip=self.int_in("SIO_MAX_CONNECTIONS_PER_IP", 20, 1, 1_000_000),
            sio_max_connections=self.int_in("SIO_MAX_CONNECTIONS", 10_000, 1, 10_000_000),
            sio_requests_per_second=self.int_in("SIO_REQUESTS_PER_SECOND", 20, 1, 100_000),
            sio_max_buffer_bytes=self.int_in(
                "SIO_MAX_BUFFER_BYTES", 256 * 1024, 16 * 1024, 1024 * 1024 * 1024
            ),
            sio_expensive_reads=self.int_in("SIO_EXPENSIVE_READS", 4, 1, 1024),
            requests_per_turn=self.int_in("REQUESTS_PER_TURN", 1, 1, 100_000),
            requests_waiting_max=self.int_in("REQUESTS_WAITING_MAX", 2000, 0, 1_000_000),
            sio_sweep_seconds=self.float_in("SIO_SWEEP_SECONDS", 30.0, 0.05, 3600),
            sio_recovery_seconds=self.float_in("SIO_RECOVERY_SECONDS", 120.0, 0, 3600),
            price_data_max_points=self.int_in("PRICE_DATA_MAX_POINTS", 10_000, 1, 10_000_000),
            registrations_per_ip_hour=self.int_in("REGISTRATIONS_PER_IP_HOUR", 10, 1, 1_000_000),
            registrations_per_minute=self.int_in(
                "REGISTRATIONS_PER_MINUTE", 60, 1, 1_000_000
            ),
            login_max_failures=self.int_in("LOGIN_MAX_FAILURES", 10, 1, 1_000_000),
        )


def _parse_origin(text: str) -> str:
    parsed = urlparse(text)
    if parsed.scheme not in ("http", "https") or not parsed.netloc or parsed.path not in ("", "/"):
        raise ValueError(text)
    return f"{parsed.scheme}://{parsed.netloc}"


def _parse_origins(text: str) -> tuple[str, ...]:
    items = [item.strip() for item in text.split(",") if item.strip()]
    return tuple(item if item == "*" else _parse_origin(item) for item in items)


def _parse_host(text: str) -> str:
    return str(ipaddress.ip_address(text))


def _parse_email(text: str) -> str:
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", text):
        raise ValueError(text)
    return text.lower()


def _parse_prefix(text: str) -> str:
    if not 1 <= len(text) <= 64 or any(ch.isspace() for ch in text):
        raise ValueError(text)
    return text


def _parse_range(text: str) -> tuple[int, int]:
    low, _, high = text.partition("-")
    first, last = int(low), int(high or low)
    if not 0 <= first <= last:
        raise ValueError(text)
    return first, last


def _parse_roles(text: str) -> tuple[str, ...]:
    chosen = {part.strip().lower() for part in text.split(",") if part.strip()}
    if not chosen or chosen - set(ROLE_CHOICES):
        raise ValueError(text)
    return tuple(name for name in ROLE_CHOICES if name in chosen)


def _parse_interval_hours(text: str) -> int:
    value = int(text)
    if value <= 0 or 24 % value:
        raise ValueError(text)
    return value


def load_or_exit(
    environ: Mapping[str, str] | None = None, dotenv: Path = Path(".env")
) -> Settings:
    """Settings for a command: on a bad value print one line naming it and exit with status 2."""
    try:
        return Settings.from_env(environ, dotenv)
    except ConfigError as exc:
        print(f"binance-stats: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _without_password(value: Any) -> Any:
    if isinstance(value, str) and "://" in value:
        parsed = urlparse(value)
        if parsed.password:
            netloc = parsed.netloc.replace(f":{parsed.password}@", ":***@", 1)
            return parsed._replace(netloc=netloc).geturl()
    return value


def describe(settings: Settings) -> dict[str, Any]:
    """Settings without secrets (and URLs without their passwords), for a startup log line."""
    hidden = {
        "jwt_access_secret",
        "super_admin_password",
        "redis_password",
        "binance_secret_key",
        "binance_api_key",
    }
    return {k: _without_password(v) for k, v in settings.__dict__.items() if k not in hidden}
