from django.apps import AppConfig


class MembersConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "members"

    def ready(self) -> None:
        from allauth.account.signals import email_confirmed

        from members.accounts import link_confirmed_email

        email_confirmed.connect(link_confirmed_email, dispatch_uid="members.link_confirmed_email")
