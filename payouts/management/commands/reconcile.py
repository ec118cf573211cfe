from django.core.management.base import BaseCommand, CommandError
from django.db import OperationalError

from payouts import checkpoints, reconciliation


class Command(BaseCommand):
    help = (
        "Prove the ledger: by default from the latest checkpoint and the entries after it (what the "
        "reconciliation page shows); --full from the first entry, recorded for the page (beat runs it "
        "nightly); --checkpoint writes a checkpoint now. Read-only but for what it records: safe to "
        "interrupt and run again. Fails (exit 1) when the books do not balance."
    )

    def add_arguments(self, parser):
        what = parser.add_mutually_exclusive_group()
        what.add_argument("--full", action="store_true", help="sum every entry from the first")
        what.add_argument("--checkpoint", action="store_true", help="write a checkpoint of every account")

    def handle(self, *args, full, checkpoint, **options):
        if checkpoint:
            try:
                written = checkpoints.ledger_checkpoint_write()
            except OperationalError as error:
                waited = checkpoints.CHECKPOINT_LOCK_TIMEOUT
                raise CommandError(
                    f"no checkpoint written: postings held the ledger past {waited} ({error}); "
                    "nothing changed, run it again"
                ) from None
            self.stdout.write(
                f"checkpoint {written.pk} through entry {written.through_entry_id}: "
                f"{written.accounts} accounts, {written.disagreeing_count} disagreeing, "
                f"{written.unbalanced_transactions} unbalanced transactions"
            )
            if not written.verified:
                raise CommandError("the checkpoint does not verify against the kept balances")
            return
        if full:
            proof = checkpoints.ledger_full_proof_run()
            self.stdout.write(
                f"full proof {proof.pk}: {proof.entries} entries through {proof.through_entry_id}, "
                f"{proof.disagreeing_count} accounts disagreeing, {proof.unbalanced_transactions} unbalanced "
                f"transactions, {proof.checkpoint_rows_wrong} checkpoint rows wrong"
            )
            balanced = proof.balanced
        else:
            proof = reconciliation.ledger_proof()
            mark = proof["checkpoint"]
            since = "the first entry"
            if mark:
                since = f"checkpoint {mark['id']} (entry {mark['through_entry_id']})"
            self.stdout.write(
                f"proof from {since} and {proof['entries_after_checkpoint']} entries after it: "
                f"{len(proof['disagreeing'])} accounts disagreeing, {proof['unbalanced_transactions']} "
                "unbalanced transactions"
            )
            balanced = proof["ledger_balanced"]
        if not balanced:
            raise CommandError("the ledger does not balance")
        self.stdout.write(self.style.SUCCESS("the ledger balances"))
