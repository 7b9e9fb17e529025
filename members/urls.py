from django.urls import path

from members import my_views, owner_views, views

urlpatterns = [
    path("lists/<str:list_id>/subscribe/", views.membership_form, {"action": "subscribe"}, name="subscribe"),
    path("lists/<str:list_id>/unsubscribe/", views.membership_form, {"action": "unsubscribe"}, name="unsubscribe"),
    path("lists/<str:list_id>/confirm/<str:token>/", views.confirm_by_link, name="confirm-by-link"),
    path(
        "lists/<str:list_id>/unsubscribe/one-click/<str:token>/",
        views.one_click_unsubscribe,
        name="one-click-unsubscribe",
    ),
    # A person's own memberships.
    path("subscriptions/", my_views.my_subscriptions, name="my-subscriptions"),
    path("subscriptions/<int:pk>/", my_views.update_preferences, name="my-subscription-update"),
    path("subscriptions/<int:pk>/leave/", my_views.leave_list, name="my-subscription-leave"),
    # A list's management pages (members.notices links owners to requests/).
    path("lists/<str:list_id>/roster/", owner_views.roster_page, name="list-roster"),
    path("lists/<str:list_id>/roster/export/", owner_views.roster_export, name="list-roster-export"),
    path("lists/<str:list_id>/requests/", owner_views.requests_page, name="list-requests"),
    path("lists/<str:list_id>/requests/<int:pk>/", owner_views.decide_request, name="list-request-decide"),
    path("lists/<str:list_id>/bans/", owner_views.bans_page, name="list-bans"),
    path("lists/<str:list_id>/bans/<int:pk>/lift/", owner_views.lift_ban, name="list-ban-lift"),
    path("lists/<str:list_id>/invite/", owner_views.invite_page, name="list-invite"),
    path(
        "lists/<str:list_id>/mass-subscribe/",
        owner_views.mass_change_page,
        {"action": "subscribe"},
        name="list-mass-subscribe",
    ),
    path(
        "lists/<str:list_id>/mass-unsubscribe/",
        owner_views.mass_change_page,
        {"action": "unsubscribe"},
        name="list-mass-unsubscribe",
    ),
    path("lists/<str:list_id>/templates/", owner_views.templates_page, name="list-templates"),
    path("lists/<str:list_id>/templates/<slug:slug>/", owner_views.template_page, name="list-template-edit"),
]
