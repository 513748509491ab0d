"""Product photos: decoded, checked and re-encoded, never served as uploaded.

Re-encoding drops what a phone puts in a JPEG (EXIF, with the GPS position of the shop), applies
the EXIF orientation so the photo stands the right way up, and caps the size. Both the photo and
its thumbnail are WebP, which every browser a buyer uses shows.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from kasir.errors import InvalidRequest, PayloadTooLarge

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
    try:
        with Image.open(io.BytesIO(upload)) as image:
            if image.format not in ACCEPTED_FORMATS:
                raise InvalidRequest(
                    f"product images must be JPEG, PNG or WebP, not {image.format}",
                    field="image",
                    code="image_unsupported_format",
                )
            if image.width * image.height > MAX_PIXELS:
                raise PayloadTooLarge(
                    f"the image is {image.width}×{image.height} pixels; at most {MAX_PIXELS:,}", code="image_too_large"
                )
            upright = ImageOps.exif_transpose(image)
            has_alpha = upright.mode in ("RGBA", "LA") or (upright.mode == "P" and "transparency" in upright.info)
            pixels = upright.convert("RGBA" if has_alpha else "RGB")
    except Image.DecompressionBombError:
        raise PayloadTooLarge(f"the image has more than {MAX_PIXELS:,} pixels", code="image_too_large") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InvalidRequest(
            f"the upload is not a readable JPEG, PNG or WebP image ({type(exc).__name__})",
            field="image",
            code="image_unreadable",
        ) from None
    photo = _fit(pixels, PHOTO_EDGE)
    thumbnail = _fit(pixels, THUMBNAIL_EDGE)
    return Photo(_webp(photo, 85), _webp(thumbnail, 80), photo.width, photo.height)


def _fit(image: Image.Image, edge: int) -> Image.Image:
    copy = image.copy()
    copy.thumbnail((edge, edge), Image.Resampling.LANCZOS)
    return copy


def _webp(image: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    image.save(out, format="WEBP", quality=quality, method=4)  # no exif= : metadata is dropped
    return out.getvalue()
