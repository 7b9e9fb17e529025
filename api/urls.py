from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from lists.api import DomainViewSet, ListViewSet
from members.api import AddressViewSet, ListMembershipViewSet, MembershipViewSet
from messages.api import HeldMessageViewSet

router = DefaultRouter()
router.register("domains", DomainViewSet, basename="domain")
router.register("lists", ListViewSet, basename="list")
router.register(r"lists/(?P<list_id>[^/]+)/members", ListMembershipViewSet, basename="list-member")
router.register(r"lists/(?P<list_id>[^/]+)/held", HeldMessageViewSet, basename="list-held")
router.register("members", MembershipViewSet, basename="member")
router.register("addresses", AddressViewSet, basename="address")

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include(router.urls)),
]
