"""Animatic: the CPU visual backend. Each shot becomes a moving previz panel, honestly labelled.

A panel (set, placeholder characters with name tags, framing by shot size) is drawn once with
Pillow on an oversized canvas; one ffmpeg command then performs the camera move (push in,
pull out, pan, tilt, with ease-in-out) and overlays a fixed "PREVIZ" caption with the shot's
visual prompt. Video models (Wan, LTX, CogVideoX) plug in behind the same `stage = "visuals"`
contract and hand compose the same kind of clip.
"""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageOps

from microdrama.domain import CameraMove, TimedShot
from microdrama.errors import InputError
from microdrama.files import atomic_path
from microdrama.media import run_ffmpeg, shot_encode, x264_threads
from microdrama.panels import draw_scene
from microdrama.skill import Skill, SkillContext
from microdrama.stages import NoOptions, ShotClip, VisualsInput
from microdrama.text import drawable_text, font, wrap_text

OVERSCAN = 1.2  # the panel is drawn this much larger than the frame, leaving room to move
PREVIZ_LABEL = {"zh": "PREVIZ · 动态分镜（非成片）", "en": "PREVIZ · animatic (not final footage)"}


def motion_filter(move: CameraMove, frames: int, width: int, height: int, fps: int) -> str:
    """The ffmpeg filter that turns the oversized panel into `frames` frames of camera motion."""
    duration = frames / fps
    ease = f"(0.5-0.5*cos(PI*min(t/{duration:.4f},1)))"  # 0 -> 1, slow in and out
    hold = f"loop=loop={frames - 1}:size=1:start=0,setpts=N/({fps}*TB)"
    if move in (CameraMove.push_in, CameraMove.pull_out):
        k = OVERSCAN
        span = max(frames - 1, 1)
        progress = f"(0.5-0.5*cos(PI*on/{span}))"
        zoom = f"1+{k - 1:.3f}*{progress}" if move == CameraMove.push_in else f"{k:.3f}-{k - 1:.3f}*{progress}"
        return (f"zoompan=z='{zoom}':x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)'"
                f":d={frames}:s={width}x{height}:fps={fps}")
    x, y = "(iw-ow)/2", "(ih-oh)/2"
    if move == CameraMove.pan_right:
        x = f"(iw-ow)*{ease}"
    elif move == CameraMove.pan_left:
        x = f"(iw-ow)*(1-{ease})"
    elif move == CameraMove.tilt_up:
        y = f"(ih-oh)*(1-{ease})"
    elif move == CameraMove.tilt_down:
        y = f"(ih-oh)*{ease}"
    return f"{hold},crop={width}:{height}:x='{x}':y='{y}'"


class AnimaticRenderer(Skill[VisualsInput, ShotClip, NoOptions]):
    name = "animatic"
    stage = "visuals"
    version = "5"  # 4: another take is another framing (mirrored), captioned with its number. 5: moves in YUV
    backend = "Pillow panels + ffmpeg camera moves (CPU previz, not a video model)"
    description = "Renders a shot as a moving previz panel labelled PREVIZ: the CPU fallback for video models."
    Input = VisualsInput
    Output = ShotClip

    def check_inputs(self, inputs: VisualsInput, options: NoOptions) -> None:
        on_screen = set(inputs.shot.shot.characters)
        given = {c.id for c in inputs.characters}
        if on_screen - given:
            raise InputError(f"shot {inputs.shot.shot.id}: pass the Character for {sorted(on_screen - given)}")

    def run(self, inputs: VisualsInput, options: NoOptions, ctx: SkillContext) -> tuple[ShotClip, dict[str, float]]:
        ts, enc = inputs.shot, inputs.encode
        w, h = enc.width, enc.height
        canvas = (_even(w * OVERSCAN), _even(h * OVERSCAN))
        by_id = {c.id: c for c in inputs.characters}
        scene = draw_scene(canvas, ts.location, ts.time_of_day, [by_id[c] for c in ts.shot.characters], ts.shot.shot_size)
        if inputs.take % 2 == 0:  # previz has no seed: an even take is the mirrored framing, so takes differ
            scene = ImageOps.mirror(scene)
        scene_png, caption_png = ctx.path(f"{ts.shot.id}.panel.png"), ctx.path(f"{ts.shot.id}.caption.png")
        scene.save(scene_png, compress_level=1)
        self._caption(ts, inputs.language, (w, h), inputs.take).save(caption_png, compress_level=1)

        out = ctx.path(f"{ts.shot.id}.mp4")
        # The panel is converted to YUV once, before it is repeated and moved: converting every moved frame cost
        # twice the CPU of the whole encode (a 9-s pan: 3.3 -> 1.7 CPU-s). The overlay stays in YUV as well.
        graph = (f"[0:v]format=yuv420p,{motion_filter(ts.shot.camera_move, ts.frames, w, h, enc.fps)}[bg];"
                 f"[1:v]format=yuva420p[cap];[bg][cap]overlay=0:0:format=yuv420[v]")
        with atomic_path(out) as tmp, shot_encode() as threads:
            run_ffmpeg(
                ["-i", scene_png.name, "-i", caption_png.name, "-filter_complex_threads", threads,
                 "-filter_complex", graph, "-map", "[v]", "-frames:v", str(ts.frames), "-r", str(enc.fps),
                 "-c:v", "libx264", "-threads", x264_threads(), "-preset", enc.preset,
                 "-crf", str(enc.crf), "-pix_fmt", "yuv420p", "-an", tmp.name],
                cwd=ctx.work_dir, what=f"animatic for shot {ts.shot.id}",
            )
        for png in (scene_png, caption_png):
            png.unlink(missing_ok=True)
        clip = ShotClip(shot_id=ts.shot.id, video=str(out), frames=ts.frames, duration_s=ts.frames / enc.fps,
                        width=w, height=h, fps=enc.fps, source="animatic (previz)")
        return clip, {"frames_rendered": float(ts.frames), "video_seconds": round(ts.frames / enc.fps, 4)}

    def _caption(self, ts: TimedShot, language: str, size: tuple[int, int], take: int = 1) -> Image.Image:
        """A transparent overlay: the PREVIZ chip and the visual prompt, top-left, clear of subtitles."""
        w, h = size
        img = Image.new("RGBA", size, (0, 0, 0, 0))
        draw = ImageDraw.Draw(img)
        label_font, prompt_font = font(max(12, h // 48)), font(max(10, h // 64))
        margin = w // 24
        label = f"{PREVIZ_LABEL.get(language, PREVIZ_LABEL['en'])}  {ts.shot.id}" + (f" · take {take}" if take > 1 else "")
        box = draw.textbbox((margin, h // 32), label, font=label_font)
        draw.rounded_rectangle([box[0] - 12, box[1] - 8, box[2] + 12, box[3] + 8], radius=10, fill=(0, 0, 0, 150))
        draw.text((margin, h // 32), label, font=label_font, fill=(255, 214, 80, 255))
        y = box[3] + h // 60
        meta = f"{ts.shot.shot_size.value} · {ts.shot.camera_move.value}"
        prompt = drawable_text(ts.shot.visual_prompt, warn=False)[0]
        for row in [meta, *wrap_text(prompt, prompt_font, w * 0.62)[:3]]:
            draw.text((margin, y), row, font=prompt_font, fill=(255, 255, 255, 230), stroke_width=2, stroke_fill=(0, 0, 0, 200))
            y += int(prompt_font.size * 1.35)
        return img


def _even(value: float) -> int:
    return int(value) // 2 * 2
