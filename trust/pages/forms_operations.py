"""Forms of the administrator's dataset pages."""

from django import forms

from trust.consent import DEFAULT_LANGUAGE, Use
from trust.portal import PortalForm


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


class ConsentTextForm(PortalForm):
    use = forms.ChoiceField(choices=Use.choices)
    language = forms.RegexField(
        regex=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$",
        max_length=16,
        initial=DEFAULT_LANGUAGE,
        help_text="A language tag such as en or fr-CA.",
    )
    text = forms.CharField(
        label="New text",
        max_length=10_000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Takes effect now as the next version. Grants made under older versions keep their "
        "text; their members are offered to re-confirm.",
    )
