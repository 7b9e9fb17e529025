from django.urls import path

from members import views

urlpatterns = [
    path("lists/<str:list_id>/subscribe/", views.membership_form, {"action": "subscribe"}, name="subscribe"),
    path("lists/<str:list_id>/unsubscribe/", views.membership_form, {"action": "unsubscribe"}, name="unsubscribe"),
    path("lists/<str:list_id>/confirm/<str:token>/", views.confirm_by_link, name="confirm-by-link"),
    path(
        "lists/<str:list_id>/unsubscribe/one-click/<str:token>/",
        views.one_click_unsubscribe,
        name="one-click-unsubscribe",
    ),
]
