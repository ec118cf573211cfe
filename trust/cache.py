"""The two Redis caches, and what each does when Redis cannot be reached.

The default cache holds only what can be computed again (the audit chain's verification, the
token endpoint's request throttle): with Redis down a read is a miss and a write is dropped, so
pages and the API keep working. The sign-in counts are a security control (django-axes locks an
account or address out after repeated failures): with Redis down they cannot be read or
counted, so signing in fails closed with 503 `sign_in_unavailable` on the login page and the
token endpoint, while sessions and API tokens already issued (checked in the database) keep
working."""

import functools

from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .errors import ServiceUnavailable

REDIS_DOWN = (RedisConnectionError, RedisTimeoutError)
SIGN_IN_UNAVAILABLE = "sign_in_unavailable"
SIGN_IN_UNAVAILABLE_DETAIL = (
    "Signing in is unavailable for a moment (failed sign-ins cannot be counted right now). "
    "Try again shortly; if you are already signed in, carry on."
)


def _or(fallback):
    """The method, answering `fallback(*args)` instead of failing when Redis is down."""

    def wrap(method):
        @functools.wraps(method)
        def guarded(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except REDIS_DOWN:
                return fallback(*args, **kwargs)

        return guarded

    return wrap


def _miss(key, default=None, *args, **kwargs):
    return default


def _not_done(*args, **kwargs):
    return False


class FailOpenRedisCache(RedisCache):
    """A cache of recomputable values: Redis down is a miss on read and a no-op on write."""

    get = _or(_miss)(RedisCache.get)
    get_many = _or(lambda *args, **kwargs: {})(RedisCache.get_many)
    has_key = _or(_not_done)(RedisCache.has_key)
    set = _or(lambda *args, **kwargs: None)(RedisCache.set)
    add = _or(_not_done)(RedisCache.add)
    touch = _or(_not_done)(RedisCache.touch)
    delete = _or(_not_done)(RedisCache.delete)


def _refused(method):
    @functools.wraps(method)
    def guarded(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except REDIS_DOWN as error:
            raise ServiceUnavailable(SIGN_IN_UNAVAILABLE_DETAIL, code=SIGN_IN_UNAVAILABLE) from error

    return guarded


class SignInCountsCache(RedisCache):
    """The failed sign-in counts: Redis down refuses the sign-in (503), it never skips the count."""

    get = _refused(RedisCache.get)
    get_many = _refused(RedisCache.get_many)
    has_key = _refused(RedisCache.has_key)
    set = _refused(RedisCache.set)
    set_many = _refused(RedisCache.set_many)
    add = _refused(RedisCache.add)
    touch = _refused(RedisCache.touch)
    incr = _refused(RedisCache.incr)
    delete = _refused(RedisCache.delete)
    delete_many = _refused(RedisCache.delete_many)
