"""Every Prometheus metric family the code exports (docs/operations.md §3), in one place.

Grafana dashboards (grafana/dashboards) must name only metrics defined here; the test
tests/unit/test_dashboards.py checks that. In tree mode each program serves these on its
own port (`METRICS_BASE_PORT` + offset); embedded mode serves `/metrics` on the front.
Gauges computed at scrape time (`bs_asyncio_tasks`, `bs_threads`, `bs_sqlite_memory_bytes`)
are collected by actors/core/introspect.py.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

# actor runtime
ACTOR_RESTARTS = Counter("bs_actor_restarts_total", "Actor restarts by its supervisor", ["actor"])
ACTOR_CRASHES = Counter(
    "bs_actor_crashes_total", "Actor crashes (exceptions out of an actor)", ["actor"]
)
ACTOR_MAILBOX_DEPTH = Gauge(
    "bs_actor_mailbox_depth", "Messages waiting in an actor's mailbox", ["actor"]
)
ACTOR_HANDLED = Counter("bs_actor_messages_handled_total", "Mailbox messages handled", ["actor"])
ACTOR_DROPPED = Counter(
    "bs_actor_messages_dropped_total", "Messages dropped by a full mailbox", ["actor"]
)

# feed
FEED_CONNECTED = Gauge("bs_feed_connected", "1 while a feed connection is open", ["shard", "conn"])
FEED_RECONNECTS = Counter("bs_feed_reconnects_total", "Feed reconnections", ["shard", "reason"])
FEED_MESSAGES = Counter("bs_feed_messages_total", "Exchange data frames decoded", ["shard"])
FEED_MALFORMED = Counter(
    "bs_feed_malformed_total", "Exchange frames counted and skipped", ["shard", "kind"]
)
FEED_POINTS = Counter("bs_feed_points_total", "PricePoints emitted by the feed", ["shard"])
FEED_BACKFILLED = Counter(
    "bs_feed_backfilled_seconds_total", "Seconds recovered from REST klines", ["shard"]
)
FEED_LAG = Histogram(
    "bs_feed_lag_seconds",
    "Exchange event time to decode",
    ["shard"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
FEED_SYMBOLS = Gauge("bs_feed_symbols", "Symbols owned by a feed shard", ["shard"])
FEED_REST_WAIT = Counter(
    "bs_feed_rest_backoff_seconds_total",
    "Seconds REST requests waited (Retry-After or the weight budget)",
    ["shard"],
)
FEED_REST_WEIGHT = Counter(
    "bs_feed_rest_weight_total", "REST request weight sent to the exchange", ["priority"]
)
FEED_REST_WEIGHT_USED = Gauge(
    "bs_feed_rest_weight_used", "The exchange's X-MBX-USED-WEIGHT-1M (this IP, this minute)"
)
FEED_REST_REFUSALS = Counter(
    "bs_feed_rest_refusals_total", "REST answers 429 (too many) and 418 (IP banned)", ["status"]
)
FEED_REST_BANNED_UNTIL = Gauge(
    "bs_feed_rest_banned_until_seconds", "Epoch seconds when the last 418 ban ends (0: none)"
)
FEED_LISTING_CHANGES = Counter(
    "bs_feed_listing_changes_total",
    "Tracked-symbol changes made by the listing check",
    ["change"],
)
FEED_LISTING_CHECKS = Counter(
    "bs_feed_listing_checks_total", "exchangeInfo listing checks by outcome", ["outcome"]
)
FEED_OUTAGE_SECONDS = Counter(
    "bs_feed_outage_seconds_total",
    "Seconds of connection downtime handed to backfill, summed over symbols",
    ["shard"],
)
FEED_COALESCED = Counter(
    "bs_feed_coalesced_total",
    "Data frames of a second already emitted (at most one point per second)",
    ["shard"],
)
FEED_DROPPED = Counter(
    "bs_feed_dropped_points_total", "Points dropped because the publish buffer was full", ["shard"]
)

# bus
BUS_PUBLISHED = Counter("bs_bus_published_points_total", "Points published to the bus", ["bus"])
BUS_STREAM_LENGTH = Gauge("bs_bus_stream_length", "Entries in the ticks stream", ["bus"])
BUS_PENDING = Gauge("bs_bus_group_pending", "Entries delivered to a group but not acked", ["group"])
BUS_STREAM_BYTES = Gauge("bs_bus_stream_bytes", "MEMORY USAGE of the ticks stream", ["bus"])
BUS_DROPPED = Counter(
    "bs_bus_dropped_points_total",
    "Points dropped before a reader took them: a tail behind, or a group past BUS_MAX_MB",
    ["reader"],
)

# db writer
DB_BATCH_SIZE = Histogram(
    "bs_db_batch_points",
    "Points per DbWriter batch",
    buckets=(1, 10, 100, 500, 1000, 2500, 5000, 10000, 50000, 100000),
)
DB_BATCH_LATENCY = Histogram(
    "bs_db_batch_seconds",
    "Time to write one batch",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
DB_WRITTEN = Counter("bs_db_points_written_total", "Points committed to the store")
DB_BUFFERED = Gauge("bs_db_buffered_points", "Points buffered by the DbWriter, not yet committed")
DB_DROPPED = Counter(
    "bs_db_dropped_points_total", "Points dropped because the buffer bound was hit"
)
DB_FAILURES = Counter("bs_db_write_failures_total", "Failed batch writes (retried)")
DB_PRUNED = Counter("bs_db_pruned_points_total", "Points pruned past retention")
DB_LAG = Histogram(
    "bs_db_lag_seconds",
    "Exchange event time to committed in the store",
    buckets=(0.1, 0.5, 1, 2.5, 5, 7.5, 10, 15, 30, 60),
)

# cache writer
CACHE_WRITES = Counter("bs_cache_writes_total", "Points written to the cache", ["cache"])
CACHE_FAILURES = Counter("bs_cache_write_failures_total", "Failed cache writes", ["cache"])
CACHE_FALLBACKS = Counter(
    "bs_cache_fallbacks_total", "Reads served by the store because the cache failed"
)
CACHE_DROPPED = Counter(
    "bs_cache_dropped_points_total",
    "Points the CacheWriter dropped when its retry buffer was full",
    ["cache"],
)
POINTS_REJECTED = Counter(
    "bs_points_rejected_total",
    "Points a writer refused as invalid (price not finite and positive, ts not positive)",
    ["writer"],
)
CACHE_SERIES_POINTS = Gauge(
    "bs_cache_series_points",
    "Points the in-process cache holds in its series window (refreshed once a minute)",
)
CACHE_BUFFERED = Gauge(
    "bs_cache_buffered_points", "Points the CacheWriter holds for a retry", ["cache"]
)

# front: Socket.IO and HTTP
SIO_CLIENTS = Gauge("bs_sio_connected_clients", "Connected Socket.IO clients")
SIO_ROOMS = Gauge("bs_sio_rooms", "Symbol rooms with at least one subscriber")
SIO_EMITS = Counter("bs_sio_emits_total", "Socket.IO messages delivered", ["event"])
SIO_BROADCAST_LAG = Histogram(
    "bs_sio_broadcast_lag_seconds",
    "Exchange event time to broadcast",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
SIO_DROPPED = Counter(
    "bs_sio_dropped_total", "Socket.IO messages dropped for a client too far behind"
)
SIO_BAD_REQUESTS = Counter(
    "bs_sio_bad_requests_total", "Socket.IO requests refused with an error event", ["event"]
)
SIO_REFUSED_CONNECTIONS = Counter(
    "bs_sio_refused_connections_total",
    "Engine.IO handshakes refused by a connection limit",
    ["limit"],
)
SIO_LIMIT_DISCONNECTS = Counter(
    "bs_sio_limit_disconnects_total",
    "Sockets disconnected for exceeding a limit (output bytes, request rate)",
    ["limit"],
)
SIO_RATE_LIMITED = Counter(
    "bs_sio_rate_limited_total", "Socket.IO requests refused by the per-socket rate"
)
SIO_BUSY = Counter(
    "bs_sio_busy_total", "Expensive Socket.IO reads refused because the read gate was full"
)
TURNS_DEFERRED = Counter(
    "bs_front_requests_deferred_total",
    "Client requests that waited for a later event-loop turn (a burst spread out)",
)
TURNS_REFUSED = Counter(
    "bs_front_requests_refused_busy_total",
    "Client requests refused because too many were already waiting for a loop turn",
)
SIO_SWEPT = Counter(
    "bs_sio_swept_subscriptions_total",
    "Subscriptions of gone sockets removed by the periodic sweep (each one a leak caught)",
)
SIO_QUEUED_BYTES = Gauge(
    "bs_sio_queued_bytes", "Bytes waiting for Socket.IO clients (socket buffers and poll queues)"
)
AUTH_REFUSED = Counter(
    "bs_auth_refused_total",
    "Account requests refused by a limit (registration per IP, login lockout, busy hasher)",
    ["reason"],
)
HTTP_REQUESTS = Counter("bs_http_requests_total", "HTTP requests", ["route", "method", "status"])
HTTP_LATENCY = Histogram(
    "bs_http_request_seconds",
    "HTTP request latency",
    ["route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)


def serve_metrics(port: int, host: str = "127.0.0.1") -> None:
    """Serve the default registry on its own port (tree mode: one per program)."""
    start_http_server(port, addr=host)
