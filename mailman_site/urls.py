from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
    path("api/v3/", include("api.urls")),
    path("", include("members.urls")),
    path("", include("messages.moderation_urls")),
    path("", include("archive.urls")),
    path("", include("lists.urls")),
]
