"""Product photos: decoded, checked and re-encoded, never served as uploaded.

Re-encoding drops what a phone puts in a JPEG (EXIF, with the GPS position of the shop), applies
the EXIF orientation so the photo stands the right way up, and caps the size. Both the photo and
its thumbnail are WebP, which every browser a buyer uses shows.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageOps

from kasir.imaging import decode

# MPO is a JPEG with a second picture appended, as many phone cameras write them.
ACCEPTED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP"})
MAX_PIXELS = 50_000_000
PHOTO_EDGE = 1600
THUMBNAIL_EDGE = 400
MEDIA_TYPE = "image/webp"


@dataclass(frozen=True, slots=True)
class Photo:
    data: bytes
    thumbnail: bytes
    width: int
    height: int


def process(upload: bytes) -> Photo:
    pixels = decode(upload, formats=ACCEPTED_FORMATS, names="JPEG, PNG or WebP", max_pixels=MAX_PIXELS, then=_upright)
    photo = _fit(pixels, PHOTO_EDGE)
    thumbnail = _fit(pixels, THUMBNAIL_EDGE)
    return Photo(_webp(photo, 85), _webp(thumbnail, 80), photo.width, photo.height)


def _upright(image: Image.Image) -> Image.Image:
    upright = ImageOps.exif_transpose(image)
    has_alpha = upright.mode in ("RGBA", "LA") or (upright.mode == "P" and "transparency" in upright.info)
    return upright.convert("RGBA" if has_alpha else "RGB")


def _fit(image: Image.Image, edge: int) -> Image.Image:
    copy = image.copy()
    copy.thumbnail((edge, edge), Image.Resampling.LANCZOS)
    return copy


def _webp(image: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    image.save(out, format="WEBP", quality=quality, method=4)  # no exif= : metadata is dropped
    return out.getvalue()
