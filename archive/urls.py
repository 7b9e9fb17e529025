"""The archive's pages: browsing (archive.page_urls) and search (archive.search_urls)."""

from django.urls import include, path

urlpatterns = [
    path("", include("archive.page_urls")),
    path("", include("archive.search_urls")),
]
