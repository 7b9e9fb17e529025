"""manage.py expire_held_posts: discard the held posts older than their list's max_days_to_hold, now."""

from django.core.management.base import BaseCommand

from messages.moderation_jobs import expire_held


class Command(BaseCommand):
    help = "Discard (as expired) held posts older than their list's max_days_to_hold, and tell the owners."

    def handle(self, *args, **options):
        self.stdout.write(f"{expire_held()} held post(s) expired")
