"""Forms of the administrator's dataset pages."""

from django import forms

from trust.portal import PortalForm

from ..consent import LICENSABLE_USES
from ..models import Asset


class DatasetForm(PortalForm):
    slug = forms.SlugField(
        max_length=50, help_text="A short unique name for links and the API, e.g. crowd-scenes-2026."
    )
    title = forms.CharField(max_length=300)
    description = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What the dataset holds (optional).",
    )


class AssetFilterForm(PortalForm):
    """Which available assets to offer for adding: by kind, and by consent for one use."""

    kind = forms.ChoiceField(label="Kind", required=False, choices=[("", "Any kind"), *Asset.Kind.choices])
    use = forms.ChoiceField(
        label="Licensable now for",
        required=False,
        choices=[("", "Any consent"), *((use.value, use.label) for use in LICENSABLE_USES)],
    )

    def filters(self) -> dict:
        if not self.is_valid():
            return {"kind": None, "use": None}
        return {"kind": self.cleaned_data["kind"] or None, "use": self.cleaned_data["use"] or None}
