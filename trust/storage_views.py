"""The local object store's signed URLs, served by Django in the embedded default. With S3
configured these URLs are never handed out."""

import uuid

from django.http import FileResponse, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from .models import Asset
from .storage import InvalidSignature, LocalObjectStore, get_object_store

MAX_LOCAL_UPLOAD_BYTES = 20 * 1024**3


def _refuse(status: int, code: str, detail: str) -> JsonResponse:
    return JsonResponse({"code": code, "detail": detail}, status=status)


def _upload_refusal(key: str) -> JsonResponse | None:
    """Uploads land only on a staging key, and only until their asset is completed: a final
    key's bytes are the verified ones, and a PUT can never replace them."""
    prefix, _, asset_id = key.partition("/")
    if prefix != "staging" or not asset_id:
        return _refuse(403, "immutable_object", "objects are written only through an upload's staging key")
    if (
        Asset.objects.filter(pk__in=[asset_id] if _is_uuid(asset_id) else [])
        .exclude(status__in=[Asset.Status.PENDING, Asset.Status.FAILED])
        .exists()
    ):
        return _refuse(
            409, "upload_completed", "this asset's upload is completed; its bytes can no longer change"
        )
    return None


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


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
    if method == "PUT" and (refusal := _upload_refusal(key)):
        return refusal
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
