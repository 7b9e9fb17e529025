"""manage.py send_moderation_summaries: the moderators' summary of what waits, now."""

from django.core.management.base import BaseCommand

from messages.moderation_jobs import send_summaries


class Command(BaseCommand):
    help = (
        "Send the moderators of each list with send_moderation_summary a summary of the held posts and "
        "subscription requests waiting. Without --once-a-day it sends now, whatever was sent today."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--once-a-day",
            action="store_true",
            help="Skip lists summarized today already, and send nothing before MODERATION_SUMMARY_HOUR (UTC).",
        )

    def handle(self, *args, once_a_day: bool, **options):
        self.stdout.write(f"{send_summaries(force=not once_a_day)} summary(ies) sent")
