from django.dispatch import receiver

from trust.signals import consent_withdrawn, licensability_changed

from . import quotas, services


@receiver(licensability_changed, dispatch_uid="licensing.refresh_licensable_now")
def refresh_licensable_now(sender, assets, capped=False, **kwargs):
    services.lease_assets_refresh(assets=assets)
    if capped:
        quotas.leases_mark_quota(assets=assets)


@receiver(consent_withdrawn, dispatch_uid="licensing.takedowns_on_withdrawal")
def issue_takedowns(sender, withdrawal, **kwargs):
    services.takedowns_issue_for_withdrawal(withdrawal=withdrawal)
