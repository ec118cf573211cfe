from django.dispatch import Signal

# Sent after a consent withdrawal commits its row (inside the same transaction).
# kwargs: withdrawal (Consent, state=withdrawn), actor (User).
# licensing listens to issue takedown notices; trust never imports licensing.
consent_withdrawn = Signal()

# Sent, inside the writing transaction, by every write that can change the answer of
# `trust.selectors.licensable_assets` for existing assets: a consent granted or withdrawn, an asset
# verified (and any new input of the rule: a service that adds one sends this too).
# kwargs: assets (a QuerySet of Asset ids, `.values("pk")`, the assets whose answer may change).
# licensing listens to refresh its precomputed licensable set in the same transaction.
licensability_changed = Signal()
