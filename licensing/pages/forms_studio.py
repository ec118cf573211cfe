"""Forms of the studio pages. They check shape only, with the API's limits; the services decide."""

from django import forms
from django.conf import settings

from trust.portal import PortalForm

# The API's limits (licensing/api/serializers.py), so a page accepts what the API accepts.
PURPOSE_MAX = 5000
STATEMENT_MAX = 5000
LIFETIME_DAYS_MAX = 3650


class LeaseRequestForm(PortalForm):
    purpose = forms.CharField(
        label="What will you use the data for?",
        max_length=PURPOSE_MAX,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="The production and the model or effect. Members can read this on the transparency "
        f"register. At most {PURPOSE_MAX:,} characters.",
    )


class LeasePartsForm(PortalForm):
    """For a federated lease: at most one offer per peer trust, beside this trust's terms. One
    radio group per trust (a fieldset with the trust as its legend), "None" chosen at first."""

    def __init__(self, *args, offers_by_peer: dict, **kwargs):
        super().__init__(*args, prefix="parts", **kwargs)
        for peer, offers in offers_by_peer.items():
            self.fields[peer.slug] = forms.TypedChoiceField(
                label=f"From {peer.name}",
                required=False,
                coerce=int,
                empty_value=None,
                widget=forms.RadioSelect,
                choices=[("", "None"), *((offer.terms_id, _offer_label(offer)) for offer in offers)],
                initial="",
            )

    def parts(self) -> list[dict]:
        return [{"trust": slug, "terms": terms} for slug, terms in self.cleaned_data.items() if terms]


def _offer_label(offer) -> str:
    from trust.templatetags.portal import money

    flat = offer.offer.get("flat_fee_cents", 0)
    return f"{offer.title} (flat fee {money(flat)} {offer.currency})"


class TokenMintForm(PortalForm):
    name = forms.CharField(
        label="Token name",
        max_length=200,
        help_text="Say where it will be used, e.g. render-farm, so it can be told apart and revoked.",
    )
    lifetime_days = forms.IntegerField(
        label="Lifetime in days (optional)",
        required=False,
        min_value=1,
        max_value=LIFETIME_DAYS_MAX,
        help_text=f"Default {settings.LEASE_TOKEN_DEFAULT_DAYS} days; never past the lease's end.",
    )
    # One-time: a reload of the page that shows a new secret must not mint another token.
    mint_key = forms.CharField(widget=forms.HiddenInput, max_length=64)


class AttestationForm(PortalForm):
    statement = forms.CharField(
        label="Deletion statement",
        max_length=STATEMENT_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What you deleted, where, and when: the asset and everything derived from it that "
        "you can delete.",
    )
