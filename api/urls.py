from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from archive.search_api import ArchiveSearchView
from lists.api import DomainViewSet, ListViewSet
from lists.filters_api import ContentFiltersView
from members.api import AddressViewSet, ListMembershipViewSet, MembershipViewSet
from members.bans_api import ListBanViewSet, SiteBanViewSet
from members.subscription_api import InvitationViewSet, SubscriptionRequestViewSet
from messages.api import HeldMessageViewSet, ModerationLogViewSet
from messages.delivery_api import DeliveryProgressView

router = DefaultRouter()
router.register("domains", DomainViewSet, basename="domain")
router.register("lists", ListViewSet, basename="list")
router.register(r"lists/(?P<list_id>[^/]+)/members", ListMembershipViewSet, basename="list-member")
router.register(r"lists/(?P<list_id>[^/]+)/held", HeldMessageViewSet, basename="list-held")
router.register(r"lists/(?P<list_id>[^/]+)/moderation-log", ModerationLogViewSet, basename="list-moderation-log")
router.register(r"lists/(?P<list_id>[^/]+)/requests", SubscriptionRequestViewSet, basename="list-request")
router.register(r"lists/(?P<list_id>[^/]+)/invitations", InvitationViewSet, basename="list-invitation")
router.register(r"lists/(?P<list_id>[^/]+)/bans", ListBanViewSet, basename="list-ban")
router.register("bans", SiteBanViewSet, basename="ban")
router.register("members", MembershipViewSet, basename="member")
router.register("addresses", AddressViewSet, basename="address")

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    re_path(
        r"^lists/(?P<list_id>[^/]+)/posts/(?P<sequence>[0-9]{1,10})/delivery/?$",
        DeliveryProgressView.as_view(),
        name="post-delivery",
    ),
    re_path(r"^search/?$", ArchiveSearchView.as_view(), name="archive-search-api"),
    re_path(r"^lists/(?P<list_id>[^/]+)/filters/?$", ContentFiltersView.as_view(), name="list-filters"),
    path("", include(router.urls)),
]
