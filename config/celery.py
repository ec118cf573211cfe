import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("guildtrust")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _connect_observability() -> None:
    """Request ids travel into tasks; task durations and failures are counted (config/logs.py,
    config/metrics.py)."""
    from celery import signals

    from config import logs, metrics

    signals.setup_logging.connect(logs.configure_worker_logging, weak=False)
    signals.before_task_publish.connect(logs.add_request_id_header, weak=False)
    signals.task_prerun.connect(logs.bind_task_request_id, weak=False)
    signals.task_postrun.connect(logs.unbind_task_request_id, weak=False)
    signals.task_prerun.connect(metrics.task_started, weak=False)
    signals.task_postrun.connect(metrics.task_finished, weak=False)
    signals.task_failure.connect(metrics.task_failed, weak=False)
    signals.worker_process_shutdown.connect(metrics.worker_process_exited, weak=False)
    signals.worker_ready.connect(metrics.serve_worker_metrics, weak=False)


_connect_observability()
