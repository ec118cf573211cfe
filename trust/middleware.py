"""A service the request needed was unreachable (`trust.errors.ServiceUnavailable`) where no view
caught it: the sign-in counts on the login page, say. The API's views answer these themselves
({"code", "detail"}, 503); this answers the rest the same way, or with a page saying what
happened."""

from django.http import JsonResponse
from django.template.response import TemplateResponse

from .errors import ServiceUnavailable

RETRY_AFTER_SECONDS = "30"


class ServiceUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, ServiceUnavailable):
            return None
        if request.path.startswith("/api/"):
            response = JsonResponse({"code": exception.code, "detail": exception.detail}, status=503)
        else:
            context = {"detail": exception.detail}
            response = TemplateResponse(request, "503.html", context, status=503).render()
        response["Retry-After"] = RETRY_AFTER_SECONDS
        return response
