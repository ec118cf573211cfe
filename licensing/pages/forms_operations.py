"""Forms of the administrator's lease and terms pages. They check the shape of what was typed;
the services decide what is allowed."""

import re
from decimal import Decimal

from django import forms

from licensing import selectors
from licensing.services import PAYMENT_DAYS_MAX, PRICE_LIMIT_MESSAGE, PRICE_MAX_CENTS
from trust.consent import LICENSABLE_USES
from trust.models import Dataset
from trust.portal import PortalForm

# Digits with an optional fraction, and an optional minus sign so a negative amount gets its
# own message rather than "not a number". No exponents, no thousands separators.
AMOUNT = re.compile(r"^(-?)(\d+)(?:\.(\d+))?$")


def cents_from_text(text: str) -> int:
    """ "1200.5" -> 120050, exactly, through Decimal: never a float near money. Raises
    ValidationError for anything that is not a non-negative amount with at most two decimals,
    or that is above the price limit `terms_create` enforces (with its message)."""
    match = AMOUNT.match(text.strip())
    if not match:
        raise forms.ValidationError("Enter an amount such as 1200 or 1200.50.", code="not_amount")
    sign, whole, fraction = match.groups()
    if fraction is not None and len(fraction) > 2:
        raise forms.ValidationError("Use at most two decimals (whole cents).", code="too_precise")
    amount = Decimal(f"{whole}.{fraction or '0'}")
    if sign and amount != 0:
        raise forms.ValidationError("An amount must not be negative.", code="negative")
    cents = int(amount * 100)
    if cents > PRICE_MAX_CENTS:
        raise forms.ValidationError(PRICE_LIMIT_MESSAGE, code="price_too_high")
    return cents


class AmountField(forms.CharField):
    """An amount in the trust currency's major units, cleaned to integer cents."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", 24)
        super().__init__(**kwargs)
        self.widget.attrs.update({"inputmode": "decimal", "autocomplete": "off", "placeholder": "0.00"})

    def clean(self, value):
        text = super().clean(value)
        return cents_from_text(text) if text else 0


class ReasonForm(PortalForm):
    """Why a lease is rejected or revoked: the studio is told."""

    reason = forms.CharField(max_length=2000, strip=True)


class TermsForm(PortalForm):
    dataset = forms.ModelChoiceField(
        queryset=Dataset.objects.order_by("title"), empty_label="Choose a dataset"
    )
    title = forms.CharField(max_length=300, help_text="What studios see in the catalogue.")
    permitted_uses = forms.MultipleChoiceField(
        choices=[(use.value, use.label) for use in LICENSABLE_USES],
        widget=forms.CheckboxSelectMultiple,
        help_text="A lease may use only assets whose members granted every one of these uses.",
    )
    duration_days = forms.IntegerField(label="Duration (days)", min_value=1, max_value=36_500, initial=30)
    flat_fee = AmountField(label="Flat fee")
    price_per_download = AmountField(label="Price per download")
    price_per_training_run = AmountField(label="Price per training run")
    price_per_generated_second = AmountField(label="Price per generated second")
    production_fee = AmountField(
        label="Production fee",
        help_text="Charged once per production a studio names, in the period its first lease for it starts.",
    )
    substitution_premium_bps = forms.IntegerField(
        label="Substitution premium (basis points)",
        required=False,
        min_value=0,
        max_value=10_000,
        help_text="Of each saving the studio reports for a digital double: 250 is 2.5%. Empty means none.",
    )
    download_cap = forms.IntegerField(
        label="Download cap",
        required=False,
        min_value=1,
        help_text="Leave empty for no cap.",
    )
    use_caps = forms.CharField(
        label="Quotas per lease",
        required=False,
        max_length=500,
        help_text="Optional, per permitted use: for example training=40, replica_active=600 "
        "(training runs for training, generated seconds for the others).",
    )
    takedown_acknowledge_days = forms.IntegerField(
        label="Days to acknowledge a takedown",
        required=False,
        min_value=1,
        max_value=3650,
        help_text="Leave empty for the trust's default.",
    )
    takedown_attest_days = forms.IntegerField(
        label="Days to attest deletion",
        required=False,
        min_value=1,
        max_value=3650,
        help_text="Past this the lease's tokens are suspended until the studio attests. Empty: the default.",
    )
    payment_days = forms.IntegerField(
        label="Days to pay an invoice",
        required=False,
        min_value=0,
        max_value=PAYMENT_DAYS_MAX,
        help_text="For the invoices these terms' leases appear on. Leave empty for the trust's default.",
    )

    def clean_use_caps(self) -> dict:
        """`use=quantity` pairs, comma-separated, as {use: quantity}; the service checks the uses."""
        caps = {}
        for pair in filter(None, (part.strip() for part in self.cleaned_data["use_caps"].split(","))):
            use, _, quantity = (side.strip() for side in pair.partition("="))
            if not quantity.isdigit() or int(quantity) < 1:
                raise forms.ValidationError(f"“{pair}”: write use=quantity, a whole number from 1.")
            caps[use] = int(quantity)
        return caps

    def service_arguments(self) -> dict:
        """The cleaned data under `terms_create`'s keyword names."""
        data = self.cleaned_data
        return {
            "dataset": data["dataset"],
            "title": data["title"],
            "permitted_uses": list(data["permitted_uses"]),
            "duration_days": data["duration_days"],
            "flat_fee_cents": data["flat_fee"],
            "price_per_download_cents": data["price_per_download"],
            "price_per_training_run_cents": data["price_per_training_run"],
            "price_per_generated_second_cents": data["price_per_generated_second"],
            "production_fee_cents": data["production_fee"],
            "substitution_premium_bps": data["substitution_premium_bps"] or 0,
            "download_cap": data["download_cap"],
            "use_caps": data["use_caps"],
            "takedown_acknowledge_days": data["takedown_acknowledge_days"],
            "takedown_attest_days": data["takedown_attest_days"],
            "payment_days": data["payment_days"],
        }


class StaffForm(PortalForm):
    """A studio staff login: the first one when enrolling a studio, or one more later."""

    staff_username = forms.CharField(label="Staff username", max_length=150)
    staff_email = forms.EmailField(label="Staff email")
    staff_password = forms.CharField(
        label="First password",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Give it to them privately; they can change it after signing in.",
    )


class StudioEnrolForm(StaffForm):
    name = forms.CharField(label="Studio name", max_length=200)
    field_order = ["name", "staff_username", "staff_email", "staff_password"]


class TermsShareForm(PortalForm):
    peers = forms.ModelMultipleChoiceField(
        queryset=None,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Peer trusts",
        help_text="Their studios see these terms in their catalogue; leave all unticked to share with none.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["peers"].queryset = selectors.peers_to_share_with()
