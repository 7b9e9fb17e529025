"""Filled in by the archive pages and search work."""

urlpatterns: list = []
