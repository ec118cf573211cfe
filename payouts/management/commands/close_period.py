from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from payouts import services
from payouts.models import Period
from trust.errors import DomainError


class Command(BaseCommand):
    help = (
        "Close an ended period in this process, with a progress bar: distribute every lease's revenue "
        "and post it to the ledger. Safe to interrupt and run again; nothing is paid twice."
    )

    def add_arguments(self, parser):
        parser.add_argument("period", type=int, help="the period's id")

    def handle(self, *args, period, **options):
        found = Period.objects.filter(pk=period).first()
        if found is None:
            raise CommandError(f"no period {period}")
        with tqdm(total=0, unit="lease", disable=options["verbosity"] == 0, file=self.stderr._out) as bar:

            def progress(done, total):
                bar.total = total
                bar.update(done - bar.n)

            try:
                closed = services.period_close(period_id=period, progress=progress)
            except DomainError as error:
                raise CommandError(error.detail) from error
        if closed.status == Period.Status.FAILED:
            raise CommandError(f"period {closed.pk} could not close: {closed.failure_reason}")
        self.stdout.write(
            self.style.SUCCESS(
                f"period {closed.pk} closed (cents): revenue {closed.revenue_cents}, "
                f"admin fee {closed.admin_fee_cents}, pension {closed.pension_cents}, net {closed.net_cents}"
            )
        )
