from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from api.keys import create_api_key
from api.models import KeyScope


class Command(BaseCommand):
    help = "Create an API key for a user and print it; it is shown only this once."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--user", required=True, help="The owner's email address or username.")
        parser.add_argument("--name", default="", help="What the key is for.")
        parser.add_argument("--scope", choices=KeyScope.values, default=KeyScope.READ)

    def handle(self, *args, user: str, name: str, scope: str, **options) -> None:
        User = get_user_model()
        users = list(User.objects.filter(Q(username=user) | Q(email__iexact=user))[:2])
        if len(users) != 1:
            raise CommandError(f"No single user has the username or email {user!r}.")
        owner = users[0]
        if not owner.is_active:
            raise CommandError(f"User {user!r} is inactive.")
        key, plaintext = create_api_key(owner, name=name or "created with manage.py create_api_key", scope=scope)
        self.stderr.write(f"Created {key.scope} key {key.prefix} for {owner}. It is shown only this once:")
        self.stdout.write(plaintext)
