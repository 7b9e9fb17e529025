"""The search pages (archive.search_views)."""

from django.urls import path

from archive import search_views

urlpatterns = [
    path("search/", search_views.site_search, name="archive-search"),
    path("lists/<str:list_id>/archive/search/", search_views.list_search, name="archive-list-search"),
]
