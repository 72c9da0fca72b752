"""Writing one video: its frames (faces on a background) and audio track, and the face crops of its persons."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw

from abaw.data.frames import frame_image_path
from abaw.synthetic.audio import voice_track
from abaw.synthetic.config import GeneratorConfig
from abaw.synthetic.faces import add_noise, draw_background, draw_face, face_boxes
from abaw.synthetic.plan import VideoPlan, seeded_rng
from abaw.synthetic.wild import degrade_capture, degrade_scene


def write_video(video: VideoPlan, root: Path, config: GeneratorConfig, number: int) -> None:
    """Write one video (frames and audio) and the face crops of its persons under ``root``."""
    path = root / video.path
    path.parent.mkdir(parents=True, exist_ok=True)
    for person in video.persons:
        (root / person.frames_folder / person.name).mkdir(parents=True, exist_ok=True)
    background = draw_background(video)
    boxes = face_boxes(video)
    noise = seeded_rng(config.seed, number, 7)
    rendered = video.frames + (1 if any(p.extra_image for p in video.persons) else 0)
    mp4 = video.extension == ".mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264" if mp4 else "mpeg4", rate=video.fps)
        stream.width, stream.height = video.size
        stream.pix_fmt = "yuv420p"
        # An explicit 1/fps time base: without it AVI headers can report a wrong frame count.
        stream.time_base = Fraction(1, video.fps)
        stream.codec_context.time_base = Fraction(1, video.fps)
        if mp4:
            stream.options = {"preset": "veryfast", "crf": "20"}
        else:
            stream.bit_rate = 1_500_000  # the default (200 kb/s) blurs the faces into blocks
        audio_stream = container.add_stream("aac" if mp4 else "pcm_s16le", rate=video.audio_rate)
        audio_stream.layout = "mono" if video.audio_channels == 1 else "stereo"
        for index in range(rendered):
            frame_image = background.copy() if index < video.frames else None
            for person, (x, y, side) in zip(video.persons, boxes, strict=True):
                runs = person.runs_at(index) if index < video.frames else []
                face = draw_face(person.look, float(person.valence[index]), float(person.arousal[index]), index)
                # The base noise is drawn for every face alike, so a clean face is the same with or without
                # degradations elsewhere.
                face = add_noise(degrade_scene(face, person.look, index, runs), noise, config.pixel_noise)
                face = degrade_capture(face, index, runs)
                number_1 = index + 1
                has_image = number_1 not in person.missing_images and (index < video.frames or person.extra_image)
                if has_image:
                    face_path = frame_image_path(root / person.frames_folder / person.name, number_1)
                    face.save(face_path, "JPEG", quality=config.jpeg_quality)
                if frame_image is not None:
                    frame_image.paste(face.resize((side, side), Image.Resampling.BILINEAR), (x, y))
                    if number_1 in person.missing_images:
                        # Something covers the face: the detector found none.
                        ImageDraw.Draw(frame_image).rectangle(
                            (x + side // 6, y + side // 4, x + side - side // 6, y + side), fill=(200, 160, 130)
                        )
            if frame_image is None:
                continue
            frame = av.VideoFrame.from_image(frame_image)
            frame.pts = index
            frame.time_base = Fraction(1, video.fps)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
        for offset in range(video.empty_packets):
            empty = av.Packet(b"")
            empty.stream = stream
            empty.pts = empty.dts = video.frames + offset
            empty.time_base = Fraction(1, video.fps)
            container.mux(empty)

        sound = voice_track(video, config.seed, number)
        if mp4:
            audio_frame = av.AudioFrame.from_ndarray(sound, format="fltp", layout=audio_stream.layout.name)
        else:
            interleaved = np.round(sound.T * 32767).astype(np.int16).reshape(1, -1)
            audio_frame = av.AudioFrame.from_ndarray(interleaved, format="s16", layout=audio_stream.layout.name)
        audio_frame.sample_rate = video.audio_rate
        audio_frame.pts = 0
        for packet in audio_stream.encode(audio_frame):
            container.mux(packet)
        for packet in audio_stream.encode(None):
            container.mux(packet)
