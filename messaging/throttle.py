"""A per-sender rate limit in Redis, shared by every worker process and host.

Carriers and Twilio limit how fast one sender number may send (a long code: about one text
per second). The limiter spaces calls for one sender at least ``1 / rate`` seconds apart (plus a
small guard), which keeps every one-second window at or under ``rate`` calls. It is a
generic-cell-rate (GCRA) token bucket of depth one, run as one Lua script so the check and
the take are atomic across workers, and timed by the Redis server's clock so hosts with
skewed clocks agree.
"""

from __future__ import annotations

import threading

import redis
from django.conf import settings
from redis.commands.core import Script

# KEYS[1]: the sender's key. ARGV[1]: the spacing in microseconds.
# Returns 0 when the caller may send now (and books the slot), else microseconds to wait.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat > now then
  return tat - now
end
redis.call('SET', KEYS[1], now + interval, 'PX', math.ceil(interval / 1000) + 1000)
return 0
"""

_lock = threading.Lock()
_clients: dict[str, redis.Redis] = {}
_scripts: dict[str, Script] = {}


def _script() -> Script:
    url = settings.REDIS_URL
    with _lock:
        if url not in _clients:
            _clients[url] = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
            _scripts[url] = _clients[url].register_script(_ACQUIRE)
        return _scripts[url]


def sender_key(sender: str) -> str:
    return f"textdesk:sms-throttle:{sender}"


def throttle_acquire(*, sender: str, rate: float | None = None) -> float:
    """Take the next send slot of ``sender``: ``0.0`` when it may send now, else seconds to wait.

    A ``rate`` of zero or less switches the limit off. Raises ``redis.RedisError`` when Redis
    is unreachable (the caller treats that as "try again later", never as "send anyway").
    """
    rate = settings.SMS_RATE_PER_SENDER if rate is None else rate
    if rate <= 0:
        return 0.0
    interval = 1.0 / rate + settings.SMS_THROTTLE_GUARD_SECONDS
    wait_us = int(_script()(keys=[sender_key(sender)], args=[int(interval * 1_000_000)]))
    return wait_us / 1_000_000
