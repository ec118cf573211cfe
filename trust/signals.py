from django.dispatch import Signal

# Sent after a consent withdrawal commits its row (inside the same transaction).
# kwargs: withdrawal (Consent, state=withdrawn), actor (User).
# licensing listens to issue takedown notices; trust never imports licensing.
consent_withdrawn = Signal()
