"""The module `dramatiq` worker processes load (see `manage.py runworkers`):
it sets Django up and declares every actor on the configured broker."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailman_site.settings")
django.setup()

from mailman_site.broker import broker, load_actors  # noqa: E402

load_actors()

__all__ = ["broker"]
