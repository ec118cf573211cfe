from django.apps import AppConfig


class PayoutsConfig(AppConfig):
    name = "payouts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from licensing.hooks import register_usage_guard

        from .services import USAGE_IN_CLOSED_PERIOD_SQL, refuse_usage_in_closed_period

        register_usage_guard(refuse_usage_in_closed_period, sql=USAGE_IN_CLOSED_PERIOD_SQL)
