"""`python -m webapp.ops.probe URL [--wait S]`: exit 0 when URL answers 200, else 1.

The health check command of the deploy units and containers (no curl needed in the image).
It prints the answer (the /healthz JSON names the failing checks), and with --wait retries
until the deadline, for "started means serving" in systemd's ExecStartPost.
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.error
import urllib.request


def probe(url: str, *, timeout: float, host: str) -> tuple[bool, str]:
    """(answered 200, body or reason)."""
    request = urllib.request.Request(url, headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status == 200, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return False, f"HTTP {exc.code}: {exc.read().decode(errors='replace')}"
    except (OSError, urllib.error.URLError) as exc:
        return False, f"{url}: {exc}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="e.g. http://127.0.0.1:8000/healthz")
    parser.add_argument("--timeout", type=float, default=20.0, help="per request, seconds")
    parser.add_argument("--wait", type=float, default=0.0, help="retry for this many seconds")
    parser.add_argument("--host", default="localhost", help="Host header (in ALLOWED_HOSTS)")
    args = parser.parse_args(argv)
    deadline = time.monotonic() + args.wait
    while True:
        ok, text = probe(args.url, timeout=args.timeout, host=args.host)
        if ok or time.monotonic() >= deadline:
            print(text)
            return 0 if ok else 1
        time.sleep(1.0)


if __name__ == "__main__":
    sys.exit(main())
