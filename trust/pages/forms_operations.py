"""Forms of the administrator's dataset pages."""

from django import forms


class DatasetForm(forms.Form):
    slug = forms.SlugField(
        max_length=50, help_text="A short unique name for links and the API, e.g. crowd-scenes-2026."
    )
    title = forms.CharField(max_length=300)
    description = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What the dataset holds (optional).",
    )
