"""Forms of the member's money pages."""

from django import forms

from trust.portal import PortalForm


class BankAccountForm(PortalForm):
    """Shape only: the IBAN's check digits, the BIC and the password are checked by
    `trust.services.member_set_bank_account`."""

    iban = forms.CharField(
        label="IBAN",
        max_length=42,
        help_text="Spaces are fine, e.g. DE89 3704 0044 0532 0130 00.",
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "characters"}
        ),
    )
    bic = forms.CharField(
        label="BIC (optional)",
        max_length=11,
        required=False,
        help_text="Leave empty to have it looked up from the IBAN.",
    )
    account_name = forms.CharField(
        label="Account holder (optional)",
        max_length=140,
        required=False,
        help_text="Leave empty to use the name the trust has for you.",
    )
    current_password = forms.CharField(
        label="Your current password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text="Needed again to change where your money goes.",
    )
