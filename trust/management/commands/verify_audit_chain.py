from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from trust import audit
from trust.models import AuditEvent


class Command(BaseCommand):
    help = "Verify the hash chain of the audit log from the first event to the head."

    def handle(self, *args, **options):
        total = AuditEvent.objects.count()
        with tqdm(total=total, unit="event", disable=options["verbosity"] == 0, file=self.stderr._out) as bar:
            checked = 0
            for checked, broken in audit.verify_chain():
                bar.n = checked
                bar.refresh()
                if broken:
                    raise CommandError(f"audit chain broken at event #{broken.seq}: {broken.reason}")
        self.stdout.write(self.style.SUCCESS(f"audit chain intact: {checked} events verified"))
