"""Forms of the administrator's payouts pages: rates and periods."""

from datetime import UTC, datetime, time

from django import forms

from trust.portal import PortalForm
from trust.templatetags.portal import percent_bps

from ..distribution import rates_problem

RATE_HELP = (
    "0 to 10000, where 100 basis points are 1%; the two rates together at most 10000. "
    "In force now: {bps} = {percent}."
)


class RatesForm(PortalForm):
    admin_fee_bps = forms.IntegerField(label="Trust admin fee (basis points)", min_value=0, max_value=10000)
    pension_bps = forms.IntegerField(label="Pension & health (basis points)", min_value=0, max_value=10000)

    def __init__(self, *args, in_force: tuple[int, int], **kwargs):
        fee, pension = in_force
        super().__init__(*args, initial={"admin_fee_bps": fee, "pension_bps": pension}, **kwargs)
        for name, bps in (("admin_fee_bps", fee), ("pension_bps", pension)):
            self.fields[name].help_text = RATE_HELP.format(bps=bps, percent=percent_bps(bps))

    def clean(self):
        cleaned = super().clean()
        fee, pension = cleaned.get("admin_fee_bps"), cleaned.get("pension_bps")
        if fee is not None and pension is not None:
            problem = rates_problem(fee, pension)
            if problem:
                raise forms.ValidationError(problem, code="bad_rate")
        return cleaned


class DateInput(forms.DateInput):
    input_type = "date"


class PeriodForm(PortalForm):
    start = forms.DateField(
        label="Start date", widget=DateInput, help_text="The period begins at 00:00 UTC on this day."
    )
    end = forms.DateField(
        label="End date",
        widget=DateInput,
        help_text="The period ends at 00:00 UTC on this day: the day itself belongs to the next period.",
    )

    def bounds(self) -> dict:
        """The period's start and end as UTC midnights, ready for `period_create`."""
        return {
            name: datetime.combine(self.cleaned_data[name], time.min, tzinfo=UTC) for name in ("start", "end")
        }


class PayoutBatchForm(PortalForm):
    execution_date = forms.DateField(
        label="Pay on",
        widget=DateInput,
        help_text="The day the bank executes the transfers (the pain.001 file's requested date).",
    )


class PayoutBatchDayForm(PortalForm):
    """The day a batch was sent to the bank, or settled by it."""

    day = forms.DateField(label="On", widget=DateInput, help_text="Today unless it happened earlier.")


class PayoutReturnForm(PortalForm):
    """A payment the bank returned: who, and why (the service checks the rest)."""

    member = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    reason = forms.CharField(label="Why the bank returned it", max_length=200)
