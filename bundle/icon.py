"""Draws the bundle's icon, `bundle/icon.png` (512x512): two waves on a blue rounded square. No imaging
library: each pixel's colour comes from its distance to the shapes, written as a PNG with zlib.

    python bundle/icon.py   # rewrites bundle/icon.png
"""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path

SIZE = 512
RADIUS = 96
BLUE = (29, 78, 216)
LIGHT = (96, 165, 250)
WHITE = (255, 255, 255)


def _coverage(distance: float) -> float:
    """How much of a pixel a shape covers, from the signed distance of its centre to the shape's edge."""
    return min(1.0, max(0.0, 0.5 - distance))


def _square(x: float, y: float) -> float:
    """Signed distance to the rounded square that fills the icon."""
    half = SIZE / 2 - 8
    dx = max(abs(x - SIZE / 2) - (half - RADIUS), 0.0)
    dy = max(abs(y - SIZE / 2) - (half - RADIUS), 0.0)
    inner = min(max(abs(x - SIZE / 2), abs(y - SIZE / 2)) - (half - RADIUS), 0.0)
    return math.hypot(dx, dy) + inner - RADIUS


def _wave(x: float, y: float, middle: float, height: float, width: float) -> float:
    """Signed distance (the vertical one, scaled by the slope) to a sine stroke running across the whole icon."""
    period = SIZE - 160
    phase = (x - 80) / period * 2 * math.pi
    curve = middle - height * math.sin(phase)
    slope = height * math.cos(phase) * 2 * math.pi / period
    return abs(y - curve) / math.sqrt(1 + slope * slope) - width / 2


def _mix(under: tuple[float, ...], over: tuple[int, ...], amount: float) -> tuple[float, ...]:
    return tuple(u + (o - u) * amount for u, o in zip(under, over, strict=True))


def pixel(x: int, y: int) -> tuple[int, int, int, int]:
    """The icon's RGBA colour at pixel (x, y)."""
    cx, cy = x + 0.5, y + 0.5
    colour: tuple[float, ...] = BLUE
    colour = _mix(colour, LIGHT, _coverage(_wave(cx, cy, 300, 70, 26)) * 0.8)
    colour = _mix(colour, WHITE, _coverage(_wave(cx, cy, 230, 90, 34)))
    alpha = _coverage(_square(cx, cy))
    red, green, blue = (round(channel) for channel in colour)
    return red, green, blue, round(alpha * 255)


def png(width: int, height: int, rows: list[bytes]) -> bytes:
    """A PNG file of RGBA rows (8 bits per channel, no filtering)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    raw = b"".join(b"\x00" + row for row in rows)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def main() -> None:
    """Write bundle/icon.png beside this script."""
    rows = [bytes(value for x in range(SIZE) for value in pixel(x, y)) for y in range(SIZE)]
    (Path(__file__).parent / "icon.png").write_bytes(png(SIZE, SIZE, rows))


if __name__ == "__main__":
    main()
