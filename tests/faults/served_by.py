"""The app exactly as gunicorn serves it, plus an `X-Served-By` header naming the worker process
that answered, so a test can show that two different workers took its requests."""

import os

from config.wsgi import application as django_application


def application(environ, start_response):
    def start(status, headers, exc_info=None):
        return start_response(status, [*headers, ("X-Served-By", str(os.getpid()))], exc_info)

    return django_application(environ, start)
