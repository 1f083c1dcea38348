#!/usr/bin/env python
"""Django's command-line utility for the forecast site."""

import os
import sys


def main() -> None:
    """Runs a Django management command (settings default to the local ones)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.config.django.local")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
