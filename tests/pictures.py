"""Pictures for tests: made with Pillow on the spot (no binary fixtures)."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image

GPS_IFD = 0x8825
ORIENTATION = 0x0112


def jpeg(width: int = 64, height: int = 48, *, color: str = "teal", gps: bool = False, orientation: int = 0) -> bytes:
    """A JPEG; ``gps`` adds a location in its EXIF, as a phone camera does."""
    exif = Image.Exif()
    if gps:
        exif[GPS_IFD] = {1: "N", 2: (30.0, 16.0, 2.5), 3: "W", 4: (97.0, 44.0, 34.1)}
        exif[0x010F] = "PhoneMaker"  # the camera's make
    if orientation:
        exif[ORIENTATION] = orientation
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "JPEG", exif=exif)
    return out.getvalue()


def png(width: int = 40, height: int = 30, *, color: str = "orange") -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (width, height), color).save(out, "PNG")
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width``×``height`` pixels: a decompression bomb's shape."""
    real = png(1, 1)
    ihdr_at = real.index(b"IHDR")
    header = struct.pack(">II", width, height) + real[ihdr_at + 12 : ihdr_at + 17]
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + header) & 0xFFFFFFFF)
    return real[: ihdr_at + 4] + header + crc + real[ihdr_at + 21 :]


def opened(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))
