"""The site's URLs with the held-messages API registered in front, for its
tests, until api/urls.py carries the registration itself."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from messages.api import HeldMessageViewSet

router = SimpleRouter()
router.register(r"lists/(?P<list_id>[^/]+)/held", HeldMessageViewSet, basename="list-held")

urlpatterns = [
    path("api/v3/", include(router.urls)),
    path("", include("mailman_site.urls")),
]
