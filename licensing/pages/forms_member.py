"""Forms of the member pages. They check shape only; the consent services decide."""

from django import forms

from trust.consent import Use
from trust.portal import PortalForm


class ConsentDecisionForm(PortalForm):
    """What a Grant or Refuse button in the consent matrix posts: the use, the asset (empty for
    all of the member's assets) and the decision."""

    use = forms.ChoiceField(label="Use", choices=Use.choices)
    asset = forms.UUIDField(label="Asset", required=False)
    decision = forms.ChoiceField(
        label="Decision", choices=[("grant", "Grant"), ("refuse", "Refuse")], required=False
    )
