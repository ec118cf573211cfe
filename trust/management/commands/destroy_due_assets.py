from django.core.management.base import BaseCommand
from tqdm import tqdm

from trust import destruction


class Command(BaseCommand):
    help = (
        "Destroy now every asset whose capture consent was withdrawn or whose retention ended "
        "(no takedown attestation window open): every stored copy removed, the store asked again, "
        "a certificate recorded. Safe to interrupt and run again."
    )

    def handle(self, *args, **options):
        with tqdm(unit="asset", disable=options["verbosity"] == 0, file=self.stderr._out) as bar:

            def progress(done, total):
                bar.total = total
                bar.n = done
                bar.refresh()

            result = destruction.destroy_due(progress=progress)
        self.stdout.write(
            self.style.SUCCESS(
                f"claimed {result['claimed']}, destroyed {result['destroyed']}, "
                f"still stored (retried next run) {result['unconfirmed']}"
            )
        )
