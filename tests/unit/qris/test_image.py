"""QR images (kasir.qris.image): PNG and SVG rendering, and reading QR codes back out of PNG,
JPEG, GIF and WebP, screenshots and photos alike; and every way an upload is refused."""

from __future__ import annotations

import io
import json
import random
import re
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
import segno
from PIL import Image, ImageFilter

from kasir.errors import InvalidRequest, PayloadTooLarge
from kasir.qris.emv import QrisError
from kasir.qris.image import read_codes, read_qris, render_png, render_svg
from tests.conftest import VALID_QRIS

FIXTURES: dict[str, list[dict[str, Any]]] = json.loads(
    (Path(__file__).parents[2] / "fixtures" / "qris" / "public_qris.json").read_text(encoding="utf-8")
)
VALID = [case["qris"] for case in FIXTURES["valid"]]
# A handful: the test QRIS, a static one, a dynamic one with a fee, two acquirer templates (the
# longest fixture), a dynamic one with its tags out of the usual order.
SAMPLES = [
    VALID_QRIS,
    VALID[0],
    next(q for q in VALID if "5502" in q and "56" in q),
    max(VALID, key=len),
    next(q for q in VALID if "ID.LINKAJA.WWW" in q),
]
assert "COM.TELKOMSEL.WWW" in SAMPLES[3]
MiB = 1024 * 1024


def modules(data: str) -> int:
    """Width in modules of the symbol the renderer draws (medium error correction, 4-module border)."""
    width, _ = segno.make(data, error="m", micro=False, boost_error=False).symbol_size(scale=1, border=4)
    return int(width)


def png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        return image.size


def reencode(png: bytes, fmt: str, **options: Any) -> bytes:
    with Image.open(io.BytesIO(png)) as image:
        out = io.BytesIO()
        image.convert("L" if fmt != "GIF" else "P").save(out, fmt, **options)
        return out.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` × ``height`` 1-bit pixels and holds almost no data."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def refused(data: bytes, **kwargs: Any) -> InvalidRequest | PayloadTooLarge:
    with pytest.raises((InvalidRequest, PayloadTooLarge)) as caught:
        read_qris(data, **kwargs)
    return caught.value  # type: ignore[return-value]


# --- rendering ------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [100, 300, 512, 1000, 2048])
def test_render_png_size(size: int) -> None:
    width, height = png_size(render_png(VALID_QRIS, size))
    assert width == height
    # Whole pixels per module, as many as fit in ``size``.
    n = modules(VALID_QRIS)
    assert width % n == 0
    assert size - n < width <= size


def test_render_png_default_size() -> None:
    width, _ = png_size(render_png(VALID_QRIS))
    assert 300 - modules(VALID_QRIS) < width <= 300


def test_render_png_smallest_size_fits_a_short_qris() -> None:
    assert png_size(render_png("000201", 64))[0] <= 64


@pytest.mark.parametrize("render", [render_png, render_svg])
def test_a_size_below_the_symbol_is_refused_never_exceeded(render: Any) -> None:
    qris = max(VALID, key=len)
    assert modules(qris) > 64
    with pytest.raises(InvalidRequest) as caught:
        render(qris, 64)
    assert caught.value.code == "invalid_size"
    assert str(modules(qris)) in caught.value.message
    assert png_size(render_png(qris, modules(qris)))[0] <= modules(qris)


@pytest.mark.parametrize("size", [100, 300, 2048])
def test_render_svg(size: int) -> None:
    svg = render_svg(VALID_QRIS, size)
    text = svg.decode("utf-8")
    assert text.startswith("<svg")  # no XML declaration: embeddable inline
    assert 'xmlns="http://www.w3.org/2000/svg"' in text
    assert "<title>QRIS</title>" in text
    dims = re.search(r'width="(\d+)" height="(\d+)"', text)
    assert dims is not None
    width, height = int(dims.group(1)), int(dims.group(2))
    assert width == height
    assert size - modules(VALID_QRIS) < width <= size
    assert width == png_size(render_png(VALID_QRIS, size))[0]


@pytest.mark.parametrize("size", [0, -1, 63, 2049, 10_000])
@pytest.mark.parametrize("render", [render_png, render_svg])
def test_render_size_out_of_bounds(render: Any, size: int) -> None:
    with pytest.raises(InvalidRequest) as caught:
        render(VALID_QRIS, size)
    assert caught.value.code == "invalid_size"
    assert caught.value.field == "size"
    assert caught.value.status_code == 400


@pytest.mark.parametrize(("qris", "size"), [("000201", 64), (VALID_QRIS, 2048)])
def test_render_size_bounds_are_inclusive(qris: str, size: int) -> None:
    assert render_png(qris, size).startswith(b"\x89PNG")
    assert render_svg(qris, size).startswith(b"<svg")


# --- reading back ---------------------------------------------------------------------------


@pytest.mark.parametrize("qris", SAMPLES, ids=lambda q: q[-4:])
def test_png_round_trip(qris: str) -> None:
    png = render_png(qris, 400)
    assert read_codes(png) == [qris]
    assert read_qris(png) == qris


@pytest.mark.parametrize("qris", SAMPLES[:3], ids=lambda q: q[-4:])
@pytest.mark.parametrize(
    ("fmt", "options"),
    [("JPEG", {"quality": 85}), ("GIF", {}), ("WEBP", {}), ("WEBP", {"quality": 80})],
    ids=["jpeg-q85", "gif", "webp", "webp-q80"],
)
def test_other_formats_round_trip(qris: str, fmt: str, options: dict[str, Any]) -> None:
    data = reencode(render_png(qris, 400), fmt, **options)
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == fmt
    assert read_qris(data) == qris


def noise(size: tuple[int, int], rng: random.Random) -> Image.Image:
    """Deterministic grey noise (Pillow's effect_noise is not seedable)."""
    return Image.frombytes("L", size, rng.randbytes(size[0] * size[1]))


def photo_of(png: bytes, *, angle: float, seed: int) -> bytes:
    """The QR as a phone might see it: rotated, scaled, pasted off-centre onto a larger noisy grey
    background, slightly blurred, saved as a JPEG."""
    rng = random.Random(seed)
    with Image.open(io.BytesIO(png)) as image:
        qr = image.convert("L").rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)
    qr = qr.resize((430, 430), Image.Resampling.BILINEAR)
    background = Image.blend(Image.new("L", (1200, 900), 140), noise((1200, 900), rng), 0.35)
    background.paste(qr, (rng.randint(50, 700), rng.randint(50, 420)))
    out = io.BytesIO()
    background.filter(ImageFilter.GaussianBlur(0.8)).save(out, "JPEG", quality=85)
    return out.getvalue()


@pytest.mark.parametrize(
    ("qris", "angle"), [(SAMPLES[0], 10), (SAMPLES[2], -9), (SAMPLES[3], 11), (SAMPLES[4], 8)], ids=["a", "b", "c", "d"]
)
def test_photo_like_image(qris: str, angle: float) -> None:
    photo = photo_of(render_png(qris, 600), angle=angle, seed=len(qris))
    with Image.open(io.BytesIO(photo)) as image:
        assert image.size == (1200, 900)
    assert read_qris(photo) == qris


def test_read_qris_picks_the_qris_among_several_codes() -> None:
    canvas = Image.new("L", (900, 450), 255)
    for i, text in enumerate(["https://example.com/menu", VALID_QRIS]):
        with Image.open(io.BytesIO(render_png(text, 400))) as image:
            canvas.paste(image.convert("L"), (20 + 450 * i, 20))
    out = io.BytesIO()
    canvas.save(out, "PNG")
    assert sorted(read_codes(out.getvalue())) == sorted(["https://example.com/menu", VALID_QRIS])
    assert read_qris(out.getvalue()) == VALID_QRIS


# --- refusals -------------------------------------------------------------------------------


def test_empty_image() -> None:
    error = refused(b"")
    assert error.code == "image_empty"
    assert error.status_code == 400
    assert refused(b"", max_bytes=5 * MiB).code == "image_empty"


@pytest.mark.parametrize(
    "data",
    [
        b"this is not an image",
        b"\x00" * 1000,
        render_svg(VALID_QRIS),
        render_png(VALID_QRIS)[:200],  # a PNG cut short
        b"\x89PNG\r\n\x1a\n",
        b"\xff\xd8\xff\xe0" + b"\x00" * 50,  # a JPEG header and nothing else
    ],
    ids=["text", "zeros", "svg", "truncated-png", "png-signature", "jpeg-header"],
)
def test_unreadable_bytes(data: bytes) -> None:
    error = refused(data)
    assert error.code == "image_unreadable"
    assert error.status_code == 400


@pytest.mark.parametrize("fmt", ["BMP", "TIFF", "ICO", "PPM"])
def test_unsupported_format(fmt: str) -> None:
    # A perfectly good QR, in a format uploads are not read in.
    with Image.open(io.BytesIO(render_png(VALID_QRIS, 256))) as image:
        out = io.BytesIO()
        image.convert("L").save(out, fmt)
    error = refused(out.getvalue())
    assert error.code == "image_unsupported_format"
    assert error.status_code == 400


@pytest.mark.parametrize("kind", ["white", "noise", "text-like"])
def test_image_without_a_qr(kind: str) -> None:
    if kind == "white":
        image = Image.new("L", (400, 300), 255)
    elif kind == "noise":
        image = noise((400, 300), random.Random(2))
    else:
        image = Image.new("L", (400, 300), 255)
        rng = random.Random(1)
        for _ in range(40):
            x, y = rng.randint(0, 380), rng.randint(0, 290)
            image.paste(0, (x, y, x + rng.randint(2, 20), y + 6))
    out = io.BytesIO()
    image.save(out, "PNG")
    assert read_codes(out.getvalue()) == []
    error = refused(out.getvalue())
    assert error.code == "qr_not_found"
    assert error.status_code == 400


def test_qr_that_is_not_a_qris() -> None:
    png = render_png("https://example.com", 300)
    assert read_codes(png) == ["https://example.com"]
    with pytest.raises(QrisError) as caught:
        read_qris(png)
    assert caught.value.code == "not_qris"
    assert caught.value.status_code == 400


def test_too_many_bytes() -> None:
    blob = random.Random(0).randbytes(20 * MiB)
    with pytest.raises(PayloadTooLarge) as caught:
        read_qris(blob, max_bytes=5 * MiB)
    assert caught.value.code == "image_too_large"
    assert caught.value.status_code == 413
    # The limit is checked on the bytes, before any decoding: a valid image over it is refused too.
    png = render_png(VALID_QRIS)
    with pytest.raises(PayloadTooLarge):
        read_codes(png, max_bytes=len(png) - 1)
    assert read_codes(png, max_bytes=len(png)) == [VALID_QRIS]


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_huge_dimensions_in_a_small_file() -> None:
    out = io.BytesIO()
    Image.new("1", (10_000, 10_000), 1).save(out, "PNG")
    data = out.getvalue()
    assert len(data) < 100_000
    with pytest.raises(PayloadTooLarge) as caught:
        read_qris(data, max_bytes=5 * MiB)
    assert caught.value.code == "image_too_large"
    assert caught.value.status_code == 413
    # Just over the 50-megapixel ceiling, header only.
    with pytest.raises(PayloadTooLarge) as caught:
        read_codes(png_header_only(7072, 7072))
    assert caught.value.code == "image_too_large"


def test_decompression_bomb_dimensions_are_too_large() -> None:
    with pytest.raises(PayloadTooLarge) as caught:
        read_codes(png_header_only(20_000, 20_000))
    assert caught.value.code == "image_too_large"
