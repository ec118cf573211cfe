from django.core.management.base import BaseCommand

from trust import keys


class Command(BaseCommand):
    help = (
        "Print a new Ed25519 private key for TRUST_SIGNING_KEY, and this trust's current key's kid "
        "and fingerprint (what a peer's administrator checks)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--show", action="store_true", help="only show the current key's kid and fingerprint"
        )

    def handle(self, *args, show: bool, **options):
        if not show:
            self.stdout.write(keys.new_private_key_hex())
            return
        for key in keys.signing_keys():
            self.stdout.write(f"kid {key.kid}  fingerprint {key.fingerprint}")
