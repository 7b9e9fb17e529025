from django.apps import AppConfig


class MessagesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "messages"
    # "messages" is django.contrib.messages' label; ours needs its own.
    label = "mail"
    verbose_name = "Messages"
