from django.urls import path

from messages import moderation_views

# members.notices and messages.moderation_notices link moderators to held/.
urlpatterns = [
    path("lists/<str:list_id>/held/", moderation_views.held_queue, name="list-held"),
    path("lists/<str:list_id>/held/decide/", moderation_views.decide_bulk, name="list-held-bulk"),
    path("lists/<str:list_id>/held/<int:pk>/", moderation_views.held_detail, name="list-held-detail"),
    path("lists/<str:list_id>/held/<int:pk>/decide/", moderation_views.decide_held, name="list-held-decide"),
    path("lists/<str:list_id>/moderation-log/", moderation_views.moderation_log, name="list-moderation-log"),
]
