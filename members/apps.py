from django.apps import AppConfig


class MembersConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "members"

    def ready(self) -> None:
        from allauth.account.signals import email_confirmed, email_removed

        from members import command_mail, confirm_by_mail
        from members.accounts import link_confirmed_email, unlink_removed_email

        email_confirmed.connect(link_confirmed_email, dispatch_uid="members.link_confirmed_email")
        email_removed.connect(unlink_removed_email, dispatch_uid="members.unlink_removed_email")
        confirm_by_mail.register()
        command_mail.register()
