from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from apikeys.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key for a user and print it once (it cannot be shown again)."

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, help="username of the key's owner")
        parser.add_argument("--key-name", required=True, help="a name to recognise the key by")
        parser.add_argument("--create-user", action="store_true", help="create the user if it does not exist")

    def handle(self, *args, user, key_name, create_user, **options):
        User = get_user_model()
        owner = User.objects.filter(username=user).first()
        if owner is None:
            if not create_user:
                raise CommandError(f"No user named {user!r} (add --create-user to create one).")
            owner = User.objects.create_user(username=user)
        created = api_key_create(owner=owner, name=key_name)
        self.stdout.write(created.secret)
