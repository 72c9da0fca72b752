"""In-the-wild degradations of a generated face crop: what real Aff-Wild2 crops suffer and clean drawings do not.

They differ on purpose from the training noise model
(:mod:`abaw.training.noise`), so a model is not scored on the very draws it
was taught to undo:

====================  ==========================================================  ================================
degradation           here                                                        the training noise instead
====================  ==========================================================  ================================
motion_blur           a line kernel of 3-13 px in one direction per run           an isotropic Gaussian blur
low_resolution        box down by 2.5-7 (any factor), bicubic back up             area down by 2/4/8, bilinear up
jpeg                  the crop re-encoded at quality 25 down to 5                 (none)
underexposure         gain 0.75-0.4 with gamma 1.1-1.6: shadows crushed           a plain factor of 0.75
overexposure          gain 1.2-1.9 with gamma 0.9-0.65: highlights clipped        plain factors 1.25 and 1.5
sensor_noise          shot noise (Poisson, worse in the dark) and coloured        white Gaussian noise
                      low-frequency chroma blotches
occlusion             a hand or an object over the eyes or the mouth              a white rectangle anywhere
looking_away          the face turned (squeezed) and shifted partly out of view   (none)
====================  ==========================================================  ================================

A strength in [0, 1] scales each; a run's own seed fixes its direction,
occluder and side, and with the frame number its per-frame noise, so the same
seed gives the same crops.
"""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image, ImageDraw

from abaw.synthetic.config import CROP_SIZE
from abaw.synthetic.degradations import Degradation
from abaw.synthetic.faces import face_geometry
from abaw.synthetic.plan import DegradedRun, Look

__all__ = ["degrade_capture", "degrade_scene"]

# Hand colours from pale to dark, and objects people hold in front of their face (a cup, a phone, a tissue).
_HANDS = ((236, 196, 170), (198, 150, 118), (141, 96, 70), (92, 62, 46))
_OBJECTS = ((215, 60, 50), (30, 30, 34), (235, 235, 240), (70, 120, 190))


def degrade_scene(image: Image.Image, look: Look, frame: int, runs: list[DegradedRun]) -> Image.Image:
    """What happens before the camera's sensor: the face hidden or turned, bad exposure, motion blur."""
    for run in runs:
        rng = np.random.default_rng(run.seed)
        if Degradation.LOOKING_AWAY in run.kinds:
            image = _look_away(image, look, run.strength, rng)
        if Degradation.OCCLUSION in run.kinds:
            image = _occlude(image, look, frame, run.strength, rng)
    for run in runs:
        if Degradation.UNDEREXPOSURE in run.kinds:
            image = _expose(image, gain=0.75 - 0.35 * run.strength, gamma=1.1 + 0.5 * run.strength)
        if Degradation.OVEREXPOSURE in run.kinds:
            image = _expose(image, gain=1.2 + 0.7 * run.strength, gamma=0.9 - 0.25 * run.strength)
    for run in runs:
        if Degradation.MOTION_BLUR in run.kinds:
            angle = np.random.default_rng(run.seed).uniform(0, math.pi)
            image = _motion_blur(image, length=3 + 10 * run.strength, angle=angle)
    return image


def degrade_capture(image: Image.Image, frame: int, runs: list[DegradedRun]) -> Image.Image:
    """What happens in and after the sensor: shot and chroma noise, a small face scaled up, JPEG blocks."""
    for run in runs:
        if Degradation.SENSOR_NOISE in run.kinds:
            image = _sensor_noise(image, run.strength, np.random.default_rng([run.seed, frame]))
    for run in runs:
        if Degradation.LOW_RESOLUTION in run.kinds:
            image = _low_resolution(image, factor=2.5 + 4.5 * run.strength)
    for run in runs:
        if Degradation.JPEG in run.kinds:
            image = _jpeg(image, quality=round(25 - 20 * run.strength))
    return image


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float32)


def _image(pixels: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(pixels + 0.5, 0, 255).astype(np.uint8))


def _expose(image: Image.Image, gain: float, gamma: float) -> Image.Image:
    return _image(255.0 * gain * (_pixels(image) / 255.0) ** gamma)


def _motion_blur(image: Image.Image, length: float, angle: float) -> Image.Image:
    """Average of the image shifted along a line of ``length`` pixels (a camera or head moving in one direction)."""
    pixels = _pixels(image)
    steps = max(2, math.ceil(length))
    reach = math.ceil(length / 2) + 1
    padded = np.pad(pixels, ((reach, reach), (reach, reach), (0, 0)), mode="edge")
    total = np.zeros_like(pixels)
    height, width = pixels.shape[:2]
    for t in np.linspace(-length / 2, length / 2, steps):
        dx, dy = round(t * math.cos(angle)), round(t * math.sin(angle))
        total += padded[reach + dy : reach + dy + height, reach + dx : reach + dx + width]
    return _image(total / steps)


def _low_resolution(image: Image.Image, factor: float) -> Image.Image:
    small = max(8, round(CROP_SIZE / factor))
    return image.resize((small, small), Image.Resampling.BOX).resize(image.size, Image.Resampling.BICUBIC)


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=max(1, quality))
    buffer.seek(0)
    with Image.open(buffer) as encoded:
        return encoded.convert("RGB")


def _sensor_noise(image: Image.Image, strength: float, rng: np.random.Generator) -> Image.Image:
    """Shot noise (a Poisson count of photons per pixel: relatively worse in the dark) plus coloured blotches."""
    pixels = _pixels(image) / 255.0
    full_well = 250.0 - 220.0 * strength  # photons at white: fewer photons, more noise
    shot = rng.poisson(pixels * full_well).astype(np.float32) / full_well
    # Chroma noise is low-frequency: drawn on a coarse grid and scaled up, different per channel.
    coarse = rng.normal(0.0, 0.02 + 0.05 * strength, (CROP_SIZE // 8, CROP_SIZE // 8, 3)).astype(np.float32)
    blotches = np.stack(
        [
            np.asarray(
                Image.fromarray(coarse[..., channel], mode="F").resize(image.size, Image.Resampling.BICUBIC),
                dtype=np.float32,
            )
            for channel in range(3)
        ],
        axis=-1,
    )
    return _image((shot + blotches) * 255.0)


def _occlude(image: Image.Image, look: Look, frame: int, strength: float, rng: np.random.Generator) -> Image.Image:
    """A hand or an object over the eyes or the mouth, following the face as it moves."""
    cx, cy, s = face_geometry(look, frame)
    over_eyes = rng.random() < 0.5
    hand = rng.random() < 0.6
    colour = _HANDS[int(rng.integers(len(_HANDS)))] if hand else _OBJECTS[int(rng.integers(len(_OBJECTS)))]
    side = 1 if rng.random() < 0.5 else -1
    # A weak occluder hides one eye or half the mouth; a strong one the whole feature.
    width = (0.22 + 0.28 * strength) * s
    top = cy - 0.20 * s if over_eyes else cy + 0.10 * s
    bottom = cy + 0.02 * s if over_eyes else cy + 0.36 * s
    left = cx - width if side > 0 else cx - 0.5 * width
    right = cx + 0.5 * width if side > 0 else cx + width
    image = image.copy()
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((left, top, right, bottom), radius=0.06 * s, fill=colour)
    if hand:
        # Fingers: gaps of shadow across the palm.
        shadow = tuple(round(0.7 * value) for value in colour)
        for finger in range(1, 4):
            y = top + (bottom - top) * finger / 4
            draw.line((left + 0.03 * s, y, right - 0.03 * s, y), fill=shadow, width=1)
    return image


def _look_away(image: Image.Image, look: Look, strength: float, rng: np.random.Generator) -> Image.Image:
    """The face turned to one side: narrower and shifted so that part of it leaves the crop."""
    squeeze = 1.0 - 0.45 * strength
    direction = 1 if rng.random() < 0.5 else -1
    shift = direction * (0.10 + 0.22 * strength) * CROP_SIZE
    drop = rng.uniform(-0.05, 0.12) * strength * CROP_SIZE  # looking down more often than up
    centre = CROP_SIZE / 2
    # PIL's affine maps output pixels to input pixels: x_in = (x_out - centre - shift) / squeeze + centre.
    matrix = (1 / squeeze, 0.0, centre - (centre + shift) / squeeze, 0.0, 1.0, -drop)
    return image.transform(
        image.size, Image.Transform.AFFINE, matrix, resample=Image.Resampling.BILINEAR, fillcolor=look.background
    )
