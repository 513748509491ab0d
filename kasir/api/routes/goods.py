"""Digital goods: /v1/files, /v1/contents, /v1/images, and seed 004's list-files, list-contents,
list-images."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from kasir.api.body import read_params
from kasir.api.compat import bayargg_route
from kasir.api.deps import principal
from kasir.api.state import app_state
from kasir.clock import utcnow
from kasir.config import Settings
from kasir.errors import InvalidRequest, PayloadTooLarge
from kasir.goods import catalog, photos
from kasir.goods.sniff import sniff
from kasir.goods.storage import MediaStore
from kasir.inputs import boolean
from kasir.merchants.service import Principal

router = APIRouter(tags=["digital goods"])

FILES_PREFIX = "/v1/files"
IMAGES_PREFIX = "/v1/images"
_FORM_OVERHEAD = 64 * 1024  # multipart boundaries and the other fields


def upload_body_limits(max_file_bytes: int, max_image_bytes: int) -> dict[str, int]:
    return {FILES_PREFIX: max_file_bytes + _FORM_OVERHEAD, IMAGES_PREFIX: max_image_bytes + _FORM_OVERHEAD}


def _active_only(value: str | None) -> bool:
    try:
        return True if value in (None, "") else boolean(value)
    except ValueError:
        raise InvalidRequest(
            "active_only must be true or false", field="active_only", code="invalid_parameter"
        ) from None


def _upload(params: dict[str, Any], field: str) -> UploadFile:
    value = params.get(field)
    if not isinstance(value, UploadFile):
        raise InvalidRequest(
            f"send the {field} as a multipart/form-data file field named {field!r}",
            field=field,
            code=f"missing_{field}",
        )
    return value


async def received_file(settings: Settings, upload: UploadFile, name: Any = None) -> dict[str, Any]:
    """An uploaded digital file in the media store (at most ``max_file_bytes``, not empty), and
    what ``catalog.create_file`` records of it: the name (``name`` if given, else the upload's,
    cleaned) and the type sniffed from its bytes. The API and the dashboard take uploads by this."""
    store = MediaStore(settings.resolved_media_dir)
    await upload.seek(0)
    blob = await run_in_threadpool(store.put_stream, upload.file, max_bytes=settings.max_file_bytes)
    given = name if isinstance(name, str) else None
    filename = catalog.clean_filename(given or upload.filename, fallback="file")
    return {"filename": filename, "content_type": sniff(blob.head), "size": blob.size, "sha256": blob.key}


async def received_image(settings: Settings, upload: UploadFile) -> dict[str, Any]:
    """An uploaded product photo checked (at most ``max_image_bytes``, a JPEG, PNG or WebP),
    re-encoded with its thumbnail into the media store, and what ``catalog.create_image`` records."""
    limit = settings.max_image_bytes
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(f"the image is larger than {limit} bytes", code="image_too_large")
    if not data:
        raise InvalidRequest("the image is empty", field="image", code="image_empty")
    photo = await run_in_threadpool(photos.process, data)
    store = MediaStore(settings.resolved_media_dir)
    full = await run_in_threadpool(store.put_bytes, photo.data)
    thumb = await run_in_threadpool(store.put_bytes, photo.thumbnail)
    return {
        "filename": catalog.clean_filename(upload.filename, fallback="image"),
        "width": photo.width,
        "height": photo.height,
        "size": full.size,
        "storage_key": full.key,
        "thumbnail_key": thumb.key,
    }


_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "filename": {"type": "string", "description": "Name shown to the buyer; default the upload's"},
                    },
                }
            }
        },
    }
}


# --- files ------------------------------------------------------------------------------------


@router.post(FILES_PREFIX, summary="Upload a digital file (given to the buyer once paid)", openapi_extra=_UPLOAD_BODY)
async def upload_file(request: Request, caller: Principal = Depends(principal)) -> dict[str, Any]:
    state = app_state(request)
    params = await read_params(request, files=frozenset({"file"}))
    upload = _upload(params, "file")
    received = await received_file(state.settings, upload, params.get("filename"))
    now = utcnow()
    row = await state.db.write(lambda conn: catalog.create_file(conn, caller, **received, now=now))
    return {"success": True, "file": catalog.file_view(row)}


@router.get(FILES_PREFIX, summary="Your digital files")
async def get_files(
    request: Request, active_only: str | None = Query(default=None), caller: Principal = Depends(principal)
) -> dict[str, Any]:
    only = _active_only(active_only)
    rows = await app_state(request).db.read(lambda conn: catalog.list_files(conn, caller, only))
    return {"success": True, "data": [catalog.file_view(row) for row in rows]}


@router.post(FILES_PREFIX + "/{file_id}/deactivate", summary="Stop offering a file (paid links keep working)")
async def deactivate_file(request: Request, file_id: int, caller: Principal = Depends(principal)) -> dict[str, Any]:
    now = utcnow()
    row = await app_state(request).db.write(lambda conn: catalog.deactivate_file(conn, caller, file_id, now))
    return {"success": True, "file": catalog.file_view(row)}


@bayargg_route(router, "list-files", ["GET"], summary="Digital files (seed 004)")
async def list_files(
    request: Request, active_only: str | None = Query(default=None), caller: Principal = Depends(principal)
) -> dict[str, Any]:
    return await get_files(request, active_only, caller)


# --- hidden contents --------------------------------------------------------------------------


@router.post("/v1/contents", summary="Create hidden content (revealed to the buyer once paid)")
async def create_content(request: Request, caller: Principal = Depends(principal)) -> dict[str, Any]:
    state = app_state(request)
    params = await read_params(request)
    now = utcnow()
    row = await state.db.write(
        lambda conn: catalog.create_content(
            conn,
            caller,
            title=params.get("title"),
            kind=params.get("type", "text"),
            body=params.get("content"),
            now=now,
        )
    )
    return {"success": True, "content": catalog.content_view(row, with_body=True)}


@router.get("/v1/contents", summary="Your hidden contents (without their text)")
async def get_contents(
    request: Request, active_only: str | None = Query(default=None), caller: Principal = Depends(principal)
) -> dict[str, Any]:
    only = _active_only(active_only)
    rows = await app_state(request).db.read(lambda conn: catalog.list_contents(conn, caller, only))
    return {"success": True, "data": [catalog.content_view(row) for row in rows]}


@router.get("/v1/contents/{content_id}", summary="One hidden content, with its text")
async def get_content(request: Request, content_id: int, caller: Principal = Depends(principal)) -> dict[str, Any]:
    row = await app_state(request).db.read(lambda conn: catalog.get_content(conn, caller, content_id))
    return {"success": True, "content": catalog.content_view(row, with_body=True)}


@router.post("/v1/contents/{content_id}/deactivate", summary="Stop offering a hidden content")
async def deactivate_content(
    request: Request, content_id: int, caller: Principal = Depends(principal)
) -> dict[str, Any]:
    now = utcnow()
    row = await app_state(request).db.write(lambda conn: catalog.deactivate_content(conn, caller, content_id, now))
    return {"success": True, "content": catalog.content_view(row)}


@bayargg_route(router, "list-contents", ["GET"], summary="Hidden contents (seed 004)")
async def list_contents(
    request: Request, active_only: str | None = Query(default=None), caller: Principal = Depends(principal)
) -> dict[str, Any]:
    return await get_contents(request, active_only, caller)


# --- product images ---------------------------------------------------------------------------


@router.post(
    IMAGES_PREFIX,
    summary="Upload a product photo (JPEG, PNG or WebP; re-encoded, thumbnailed)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["image"],
                        "properties": {"image": {"type": "string", "format": "binary"}},
                    }
                }
            },
        }
    },
)
async def upload_image(request: Request, caller: Principal = Depends(principal)) -> dict[str, Any]:
    state = app_state(request)
    params = await read_params(request, files=frozenset({"image"}))
    upload = _upload(params, "image")
    received = await received_image(state.settings, upload)
    now = utcnow()
    row = await state.db.write(lambda conn: catalog.create_image(conn, caller, **received, now=now))
    return {"success": True, "image": catalog.image_view(row, state.settings.public_url)}


@router.get(IMAGES_PREFIX, summary="Your product photos")
async def get_images(
    request: Request, active_only: str | None = Query(default=None), caller: Principal = Depends(principal)
) -> dict[str, Any]:
    state = app_state(request)
    only = _active_only(active_only)
    rows = await state.db.read(lambda conn: catalog.list_images(conn, caller, only))
    return {"success": True, "data": [catalog.image_view(row, state.settings.public_url) for row in rows]}


@router.post(IMAGES_PREFIX + "/{image_id}/deactivate", summary="Stop offering a product photo")
async def deactivate_image(request: Request, image_id: int, caller: Principal = Depends(principal)) -> dict[str, Any]:
    state = app_state(request)
    now = utcnow()
    row = await state.db.write(lambda conn: catalog.deactivate_image(conn, caller, image_id, now))
    return {"success": True, "image": catalog.image_view(row, state.settings.public_url)}


@bayargg_route(router, "list-images", ["GET"], summary="Product photos (seed 004)")
async def list_images(
    request: Request, active_only: str | None = Query(default=None), caller: Principal = Depends(principal)
) -> dict[str, Any]:
    return await get_images(request, active_only, caller)
