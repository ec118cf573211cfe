"""Forms of the member pages. They check shape only; the consent services decide."""

from django import forms

from trust.consent import Use
from trust.portal import PortalForm


class ConsentGrantForm(PortalForm):
    """What a Grant button in the consent matrix posts: the use, and the asset (empty for all
    of the member's assets)."""

    use = forms.ChoiceField(label="Use", choices=Use.choices)
    asset = forms.UUIDField(label="Asset", required=False)
