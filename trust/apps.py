from django.apps import AppConfig
from django.conf import settings
from django.db.models.signals import post_save


class TrustConfig(AppConfig):
    name = "trust"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from .tokens import revoke_user_tokens_on_password_change

        post_save.connect(
            revoke_user_tokens_on_password_change,
            sender=settings.AUTH_USER_MODEL,
            dispatch_uid="trust.revoke_user_tokens_on_password_change",
        )
