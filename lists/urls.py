from django.urls import path

from lists import views

urlpatterns = [
    path("", views.list_index, name="list-index"),
    path("lists/<str:identifier>/", views.list_info, name="list-info"),
]
