"""Forms of the member pages. They check shape only; the consent services decide."""

from django import forms

from trust.consent import LICENSABLE_USES, CapPer, Use
from trust.portal import PortalForm


class ConsentDecisionForm(PortalForm):
    """What a Grant or Refuse button in the consent matrix posts: the use, the asset (empty for
    all of the member's assets) and the decision."""

    use = forms.ChoiceField(label="Use", choices=Use.choices)
    asset = forms.UUIDField(label="Asset", required=False)
    decision = forms.ChoiceField(
        label="Decision", choices=[("grant", "Grant"), ("refuse", "Refuse")], required=False
    )


class CapGrantForm(PortalForm):
    """Grant a use with a cap (README: Quotas by consent category): the use, for all the
    member's assets or one of them, at most a quantity per lease or per year."""

    use = forms.ChoiceField(label="Use", choices=[(use.value, use.label) for use in LICENSABLE_USES])
    cap_asset = forms.ChoiceField(label="For", required=False)
    cap_quantity = forms.IntegerField(
        label="At most",
        min_value=1,
        max_value=10**12,
        help_text="Training runs for training; generated seconds for the other uses.",
    )
    cap_per = forms.ChoiceField(
        label="Per", choices=CapPer.choices, widget=forms.RadioSelect, initial=CapPer.LEASE
    )

    def __init__(self, *args, assets=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["cap_asset"].choices = [("", "All my assets"), *((str(a.pk), a.title) for a in assets)]
