from django.urls import path

from members import views

urlpatterns = [
    path(
        "lists/<str:list_id>/unsubscribe/one-click/<str:token>/",
        views.one_click_unsubscribe,
        name="one-click-unsubscribe",
    ),
]
