from django.dispatch import receiver

from trust.signals import consent_withdrawn

from . import services


@receiver(consent_withdrawn, dispatch_uid="licensing.takedowns_on_withdrawal")
def issue_takedowns(sender, withdrawal, **kwargs):
    services.takedowns_issue_for_withdrawal(withdrawal=withdrawal)
