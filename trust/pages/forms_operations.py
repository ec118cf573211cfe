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


class MemberEnrolForm(PortalForm):
    member_number = forms.CharField(max_length=32, help_text="The union's membership number, e.g. M-01234.")
    display_name = forms.CharField(label="Name", max_length=200)
    email = forms.EmailField()
    username = forms.CharField(max_length=150, help_text="What the member signs in with.")
    password = forms.CharField(
        label="First password",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Give it to the member privately; they can change it after signing in.",
    )
    listed_publicly = forms.BooleanField(label="Named in the public transparency register", required=False)
