"""Drawing faces whose mouth follows valence and whose eyes and brows follow arousal, and the frames around them."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from abaw.synthetic.config import CROP_SIZE
from abaw.synthetic.plan import Look, VideoPlan

_SUPERSAMPLE = 2  # faces are drawn at twice the size and reduced: cheap anti-aliasing


def _sway(look: Look, frame: int) -> tuple[float, float]:
    period_x, phase_x, period_y, phase_y = look.sway
    return (
        0.012 * math.sin(2 * math.pi * frame / period_x + phase_x),
        0.010 * math.sin(2 * math.pi * frame / period_y + phase_y),
    )


def _lerp(a: tuple[int, ...], b: tuple[int, ...], w: float) -> tuple[int, ...]:
    return tuple(round(x + (y - x) * w) for x, y in zip(a, b, strict=True))


def face_geometry(look: Look, frame: int, size: int = CROP_SIZE) -> tuple[float, float, float]:
    """Centre ``(x, y)`` and scale of the face in a crop of side ``size`` at ``frame``, in pixels.

    Features lie at fixed multiples of the scale from the centre: the eyes
    ``0.10`` above it and ``0.15`` to each side, the mouth ``0.22`` below it.
    """
    sway_x, sway_y = _sway(look, frame)
    return (0.5 + look.dx + sway_x) * size, (0.52 + look.dy + sway_y) * size, look.scale * size


def draw_face(look: Look, valence: float, arousal: float, frame: int = 0) -> Image.Image:
    """Draw one noiseless ``CROP_SIZE`` face crop showing ``valence`` and ``arousal``."""
    size = CROP_SIZE * _SUPERSAMPLE
    image = Image.new("RGB", (size, size), look.background)
    draw = ImageDraw.Draw(image)
    if look.backdrop is not None:
        # A second colour behind the person (a shelf, a window): the scene is not one flat colour.
        band = look.backdrop_width * size
        for left in np.arange(look.backdrop_offset * band * 2 - 2 * band, size, 2 * band):
            draw.rectangle((left, 0, left + band, size), fill=look.backdrop)
    cx, cy, s = face_geometry(look, frame, size)

    draw.ellipse((cx - 0.38 * s, cy - 0.50 * s, cx + 0.38 * s, cy + 0.36 * s), fill=look.hair)
    draw.ellipse((cx - 0.35 * s, cy - 0.42 * s, cx + 0.35 * s, cy + 0.46 * s), fill=look.skin)
    if look.beard:
        # Below the mouth and along the jaw only: the lips stay in view.
        draw.chord((cx - 0.35 * s, cy - 0.30 * s, cx + 0.35 * s, cy + 0.46 * s), 15, 165, fill=look.hair)
        draw.ellipse((cx - 0.20 * s, cy + 0.14 * s, cx + 0.20 * s, cy + 0.30 * s), fill=look.skin)
    dark = (35, 25, 25)

    # Arousal: eyes open from a closed lash line on a shadowed lid to wide white eyes; brows rise.
    openness = (arousal + 1) / 2
    eye_y = cy - 0.10 * s
    eye_w = 0.085 * s
    eye_h = (0.008 + 0.07 * openness) * s
    brow_y = eye_y - (0.08 + 0.07 * openness) * s
    lid = _lerp(look.skin, (40, 20, 30), 0.35)
    for side in (-1, 1):
        ex = cx + side * 0.15 * s
        draw.ellipse((ex - 1.1 * eye_w, eye_y - 0.085 * s, ex + 1.1 * eye_w, eye_y + 0.085 * s), fill=lid)
        draw.ellipse(
            (ex - eye_w, eye_y - eye_h, ex + eye_w, eye_y + eye_h),
            fill=(246, 246, 240),
            outline=dark,
            width=max(1, round(0.012 * s)),
        )
        pupil = min(0.022 * s, eye_h * 0.7)
        draw.ellipse((ex - pupil, eye_y - pupil, ex + pupil, eye_y + pupil), fill=(30, 20, 20))
        draw.line(
            (ex - side * 0.035 * s, brow_y, ex + side * 0.085 * s, brow_y + 0.012 * s),
            fill=look.hair,
            width=max(1, round(0.028 * s)),
        )
        if look.glasses:
            # Thin rims around the eye: they frame it without hiding its opening.
            draw.ellipse(
                (ex - 1.45 * eye_w, eye_y - 0.10 * s, ex + 1.45 * eye_w, eye_y + 0.09 * s),
                outline=look.glasses,
                width=max(1, round(0.012 * s)),
            )
    if look.glasses:
        draw.line((cx - 0.026 * s, eye_y - 0.02 * s, cx + 0.026 * s, eye_y - 0.02 * s), fill=look.glasses, width=2)

    nose = _lerp(look.skin, (0, 0, 0), 0.25)
    draw.line(
        (cx, eye_y + 0.03 * s, cx - 0.025 * s, cy + 0.10 * s, cx + 0.015 * s, cy + 0.11 * s),
        fill=nose,
        width=max(1, round(0.014 * s)),
    )

    # Valence: the mouth curves up (smile) or down (frown); lips go from dark purple to bright
    # red and a smile shows teeth.
    mouth_y = cy + 0.22 * s
    mouth_w = 0.15 * s
    curve = 0.075 * s * valence
    thickness = 0.025 * s
    opening = 0.05 * s * max(valence, 0.0)
    ts = np.linspace(-1.0, 1.0, 11)
    centre = [(cx + mouth_w * t, mouth_y - curve * t * t) for t in ts]
    upper = [(x, y - thickness) for x, y in centre]
    lower = [(x, y + thickness + opening * (1 - t * t)) for (x, y), t in zip(centre, ts, strict=True)]
    lips = _lerp((80, 25, 60), (228, 62, 70), (valence + 1) / 2)
    draw.polygon(upper + lower[::-1], fill=lips)
    if opening > 0.5:
        teeth_top = [(x, y - 0.2 * thickness) for x, y in centre[1:-1]]
        teeth_bottom = [
            (x, y + 0.2 * thickness + opening * (1 - t * t)) for (x, y), t in zip(centre[1:-1], ts[1:-1], strict=True)
        ]
        draw.polygon(teeth_top + teeth_bottom[::-1], fill=(250, 250, 245))
    return image.reduce(_SUPERSAMPLE)


def add_noise(image: Image.Image, rng: np.random.Generator, sigma: float) -> Image.Image:
    """``image`` (a face crop) with Gaussian pixel noise of standard deviation ``sigma``."""
    if sigma <= 0:
        return image
    pixels = np.asarray(image, dtype=np.float32) + rng.normal(0.0, sigma, (CROP_SIZE, CROP_SIZE, 3)).astype(np.float32)
    return Image.fromarray(np.clip(pixels + 0.5, 0, 255).astype(np.uint8))


def draw_background(video: VideoPlan) -> Image.Image:
    """The empty scene of a video: a wall, a floor and a door frame in the first person's colours."""
    width, height = video.size
    colour = video.persons[0].look.background
    image = Image.new("RGB", (width, height), colour)
    draw = ImageDraw.Draw(image)
    # A floor and a door frame, so the scene is not one flat colour.
    draw.rectangle((0, int(height * 0.85), width, height), fill=_lerp(colour, (0, 0, 0), 0.35))
    draw.rectangle((2, 6, 12, int(height * 0.8)), outline=_lerp(colour, (255, 255, 255), 0.3), width=2)
    return image


def face_boxes(video: VideoPlan) -> list[tuple[int, int, int]]:
    """(x, y, side) of each person's face square in the video frame."""
    width, height = video.size
    side = height - 40
    if len(video.persons) == 1:
        return [((width - side) // 2, 14, side)]
    gap = (width - 2 * side) // 3
    return [(gap, 14, side), (2 * gap + side, 14, side)]
