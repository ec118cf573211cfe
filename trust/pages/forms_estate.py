from django import forms
from django.utils import timezone

from trust.portal import PortalForm


class EstateRepresentativeForm(PortalForm):
    username = forms.CharField(
        label="Their sign-in name",
        max_length=150,
        help_text="The person needs an account with the trust; the union can help them get one.",
    )


class DeathForm(PortalForm):
    date = forms.DateField(label="Date of death", widget=forms.DateInput(attrs={"type": "date"}))
    evidence = forms.CharField(
        max_length=500, help_text="The reference of the evidence: a certificate number, a probate document."
    )
    authority = forms.ChoiceField(label="Consent authority passes to")

    def __init__(self, *args, named: dict, **kwargs):
        super().__init__(*args, **kwargs)
        choices = [("union", "The union (the trust's administrators)")]
        if named["user_id"]:
            choices.insert(0, ("named", f"{named['username']}, the estate representative the member named"))
        self.fields["authority"].choices = choices
        self.named_user = named["user_id"]

    def clean_date(self):
        value = self.cleaned_data["date"]
        if value > timezone.localdate():
            raise forms.ValidationError("The date of death cannot be in the future.")
        return value

    def chosen_authority(self):
        return self.named_user if self.cleaned_data["authority"] == "named" else "union"
