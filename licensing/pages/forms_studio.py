"""Forms of the studio pages. They check shape only, with the API's limits; the services decide."""

from django import forms
from django.conf import settings

from trust.consent import use_label
from trust.portal import PortalForm

# The API's limits (licensing/api/serializers.py), so a page accepts what the API accepts.
PURPOSE_MAX = 5000
STATEMENT_MAX = 5000
LIFETIME_DAYS_MAX = 3650
PRODUCTION_MAX = 200


class LeaseRequestForm(PortalForm):
    purpose = forms.CharField(
        label="What will you use the data for?",
        max_length=PURPOSE_MAX,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="The production and the model or effect. Members can read this on the transparency "
        f"register. At most {PURPOSE_MAX:,} characters.",
    )
    production = forms.CharField(
        label="Production",
        max_length=PRODUCTION_MAX,
        required=False,
        help_text="The title of the film, series or game the data is for. Required when the terms carry a "
        "production fee, which is charged once per production: a second lease for the same production "
        "does not pay it again.",
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


class DeriveTokenForm(PortalForm):
    """A vendor's token derived from one of the lease's federated tokens (the API's
    POST /leases/{id}/tokens/derive/): every restriction optional, none wider than the parent."""

    parent = forms.CharField(
        label="Your lease token (ft_…)",
        max_length=20_000,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "autocomplete": "off"}),
        help_text="The secret of one of this lease's tokens, or of a vendor token derived from one. "
        "It is used once here and not kept.",
    )
    vendor = forms.CharField(
        label="Vendor", max_length=200, help_text="Who will use it, e.g. a VFX house. Members see this name."
    )
    assets = forms.CharField(
        label="Only these assets (optional)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        help_text="One asset id per line, as the manifest lists them; another trust's as trust:id. "
        "Empty: every asset the parent token opens.",
    )
    uses = forms.MultipleChoiceField(
        label="Only these uses (optional)",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every use the parent token allows.",
    )
    lifetime_hours = forms.IntegerField(
        label="Lifetime in hours (optional)",
        required=False,
        min_value=1,
        max_value=LIFETIME_DAYS_MAX * 24,
        help_text="Must end before the parent token does. Empty: the parent's expiry.",
    )
    # One-time, as for minting: a reload of the page showing the new secret derives nothing.
    mint_key = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, *args, uses=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["uses"].choices = [(use, use_label(use)) for use in uses]

    def clean_assets(self) -> list[str] | None:
        lines = [line.strip() for line in self.cleaned_data["assets"].splitlines()]
        return [line for line in lines if line] or None


class AttestationForm(PortalForm):
    statement = forms.CharField(
        label="Deletion statement",
        max_length=STATEMENT_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What you deleted, where, and when: the asset and everything derived from it that "
        "you can delete.",
    )
