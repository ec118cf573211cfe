"""The local object store's signed URLs, served by Django in the embedded default. With S3
configured these URLs are never handed out."""

from django.http import FileResponse, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from .storage import InvalidSignature, LocalObjectStore, get_object_store

MAX_LOCAL_UPLOAD_BYTES = 20 * 1024**3


def _refuse(status: int, code: str, detail: str) -> JsonResponse:
    return JsonResponse({"code": code, "detail": detail}, status=status)


@csrf_exempt  # authorised by the URL's HMAC signature, not by a session
@require_http_methods(["GET", "HEAD", "PUT"])
def local_object(request, key: str):
    store = get_object_store()
    if not isinstance(store, LocalObjectStore):
        return _refuse(404, "not_found", "the local object store is not in use")
    method = "GET" if request.method == "HEAD" else request.method
    upload_id, part_number = request.GET.get("upload_id"), request.GET.get("part")
    try:
        store.check_signature(
            method=method,
            key=key,
            expires=request.GET.get("expires"),
            signature=request.GET.get("signature", ""),
            part=store.scope_of(request.GET),
        )
        if request.GET.get("method") != method:
            raise InvalidSignature("URL signed for another method")
    except InvalidSignature as error:
        return _refuse(403, "bad_signature", str(error))
    if method == "PUT" and upload_id:
        try:
            etag = store.write_part(upload_id, int(part_number), request, limit=MAX_LOCAL_UPLOAD_BYTES)
        except ValueError as error:
            return _refuse(400, "bad_part", str(error))
        response = HttpResponse(status=200)
        response["ETag"] = etag
        return response
    if method == "PUT":
        try:
            store.write_stream(key, request, limit=MAX_LOCAL_UPLOAD_BYTES)
        except ValueError as error:
            return _refuse(413, "too_large", str(error))
        return HttpResponse(status=200)
    if store.size(key) is None:
        return _refuse(404, "not_found", "no such object")
    filename = request.GET.get("filename")
    return FileResponse(
        store.open(key),
        as_attachment=bool(filename),
        filename=filename or "",
        content_type=request.GET.get("content_type") or "application/octet-stream",
    )
