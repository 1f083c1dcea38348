"""Whole-page caching for pages that are the same for everyone (no user, no messages, no
CSRF token): the rendered bytes keyed by path, query and a data version.

The version is read from the database on every request (one indexed lookup, far cheaper
than the page), so new data shows at once in every process, whatever the cache backend;
`timeout` only bounds memory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import wraps

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse


def shared_page(*, timeout: int, version: Callable[[], object]) -> Callable:
    """Caches a GET view's 200 responses for `timeout` seconds per value of `version()`."""

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method != "GET":
                return view(request, *args, **kwargs)
            digest = hashlib.sha1(
                f"{version()}|{request.get_full_path()}".encode(), usedforsecurity=False
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
