from django import forms

from trust.portal import PortalForm


class PeerAddForm(PortalForm):
    url = forms.URLField(
        assume_scheme="https",
        max_length=300,
        label="Peer's base URL",
        help_text="Where the other trust serves, e.g. https://trust.equity.org.uk",
    )
    fingerprint = forms.CharField(
        max_length=80,
        help_text=(
            "The SHA-256 fingerprint of their key, as their administrator read it to you (64 hex characters)."
        ),
    )
