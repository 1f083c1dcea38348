"""Whole-page caching for pages that are the same for everyone (no user, no messages, no
CSRF token): the rendered bytes keyed by path, query and a data version.

The version is read from the database (a few index lookups, far cheaper than the page), so
new data shows in every process whatever the cache backend; `timeout` only bounds memory.
Each process reuses a version it read for `settings.GCF_PAGE_VERSION_TTL_S` (0: every request
reads it; production: 1 s, so under load a cached page costs no query at all).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse


def _memoised(version: Callable[[], object]) -> Callable[[], object]:
    """`version`, reused for `GCF_PAGE_VERSION_TTL_S` seconds in this process."""
    last: list = [None, float("-inf")]  # value, monotonic time read

    def current() -> object:
        ttl = settings.GCF_PAGE_VERSION_TTL_S
        now = time.monotonic()
        if ttl <= 0 or now - last[1] >= ttl:
            last[0], last[1] = version(), now
        return last[0]

    return current


def shared_page(*, timeout: int, version: Callable[[], object]) -> Callable:
    """Caches a GET view's 200 responses for `timeout` seconds per value of `version()`."""
    current_version = _memoised(version)

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method != "GET":
                return view(request, *args, **kwargs)
            digest = hashlib.sha1(
                f"{current_version()}|{request.get_full_path()}".encode(), usedforsecurity=False
            ).hexdigest()
            key = f"page:{view.__module__}.{view.__qualname__}:{digest}"
            hit = cache.get(key)
            if hit is not None:
                content, content_type = hit
                response = HttpResponse(content, content_type=content_type)
                response["X-Page-Cache"] = "hit"
                return response
            response = view(request, *args, **kwargs)
            if response.status_code == 200 and not response.cookies:
                if hasattr(response, "render"):
                    response.render()
                cache.set(key, (response.content, response["Content-Type"]), timeout)
            return response

        return wrapper

    return decorate
