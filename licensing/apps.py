from django.apps import AppConfig


class LicensingConfig(AppConfig):
    name = "licensing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # receivers connects the consent-withdrawal receiver by being imported.
        from trust import destruction

        from . import deadlines, federated, hooks, receivers  # noqa: F401

        hooks.register_lease_hook(federated.on_lease_changed)
        hooks.register_takedown_hook(federated.on_takedowns_changed)
        destruction.register_destruction_hold(deadlines.assets_in_open_attestation_window)
