from django.apps import AppConfig


class ListsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "lists"

    def ready(self) -> None:
        from lists.mta import regenerate_on_change
        from mailman_site.events import list_created, list_deleted

        list_created.connect(regenerate_on_change, dispatch_uid="mta-maps-created")
        list_deleted.connect(regenerate_on_change, dispatch_uid="mta-maps-deleted")
