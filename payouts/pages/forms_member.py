"""Forms of the member's money pages."""

from django import forms

from trust.portal import PortalForm


class BankAccountForm(PortalForm):
    """Shape only: the IBAN's check digits, the BIC and the password are checked by
    `trust.services.member_set_bank_account`."""

    iban = forms.CharField(
        label="IBAN",
        max_length=42,
        required=False,
        help_text="Spaces are fine, e.g. DE89 3704 0044 0532 0130 00. No IBAN? Give the account number.",
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "characters"}
        ),
    )
    account_number = forms.CharField(
        label="Account number, for banks in the US, Canada and elsewhere",
        max_length=42,
        required=False,
        help_text="Only if your bank gives you no IBAN; give its BIC too.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    bic = forms.CharField(
        label="BIC (optional)",
        max_length=11,
        required=False,
        help_text="Leave empty to have it looked up from the IBAN; needed with an account number.",
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
