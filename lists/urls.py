from django.urls import path

from lists import settings_views, views

urlpatterns = [
    path("", views.list_index, name="list-index"),
    path("lists/<str:identifier>/", views.list_info, name="list-info"),
    # A list's settings pages, for its owners (members.owner_nav links them).
    path(
        "lists/<str:list_id>/settings/moderation/",
        settings_views.moderation_settings,
        name="list-settings-moderation",
    ),
    path("lists/<str:list_id>/settings/filters/", settings_views.content_filters, name="list-settings-filters"),
]
