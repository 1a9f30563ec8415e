"""The reference episode pipeline, as one Prefect flow.

    brief ─screenplay─▶ Screenplay ─dubbing (per line)─▶ WAVs ─storyboard─▶ timed shots ─mix─▶ the sound
          ─visuals (per shot, in parallel)─▶ clips ─subtitles─▶ SRT/ASS ─finish + assemble─▶ episode.mp4

Tasks are thin decorators over `Run.stage` (microdrama/run.py), which calls the configured skill through
the content-addressed store: a re-run after an edit redoes only what it touched, a crashed run resumes,
and every call leaves a usage record attributed to its run, episode, shot, line and R&D project.
"""

# No `from __future__ import annotations`: a served run re-validates the flow's parameters in its own process.
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Callable

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from microdrama.config import ProjectConfig
from microdrama.consistency import character_consistency
from microdrama.domain import Brief, Character, Screenplay, SpokenLine, Storyboard, TimedShot, read_source
from microdrama.pipelines.reporting import echo_and_log, publish_artifacts
from microdrama.pipelines.steps import gpu_slot, resolve, submit_or_reuse
from microdrama.quote import Budget, shared_budget
from microdrama.run import (
    OPENING_SECONDS,
    DubQAReport,
    Run,
    RunSummary,
    check_run_name,
    check_stages,
    check_subtitles_fit,
    finish_input,
    load_translation,
    music_beds,
    opening_text,
    qa_plan,
)
from microdrama.stages import (
    AssembleInput,
    ComposeInput,
    DubbedLine,
    FinalCut,
    FinishedShot,
    KeyframeInput,
    MixedSound,
    MixInput,
    ScreenplayInput,
    ShotClip,
    StoryboardInput,
    StoryboardOutput,
    SubtitleFiles,
    SubtitlesInput,
)
from microdrama.voices import cast_record, cast_voices, fallback_note, lock_voices

# ---- Prefect tasks: thin decorators over Run.stage ------------------------------------------------


@task(name="screenplay", cache_policy=NO_CACHE)
def write_screenplay(run: Run, brief: Brief, pace: float = 1.0) -> Screenplay:
    # LLM writers retry their own HTTP calls (see microdrama.llm.client); nothing else here is network.
    return run.stage("screenplay", ScreenplayInput(brief=brief, pace=pace), task_name="screenplay")


@task(name="dub-line", task_run_name="dub {line.id}", cache_policy=NO_CACHE)
def dub_line(run: Run, screenplay: Screenplay, line: SpokenLine) -> DubbedLine:
    return run.dub(line, screenplay)


@task(name="dub-qa", task_run_name="qa {line.id}", cache_policy=NO_CACHE)
def qa_line(run: Run, screenplay: Screenplay, line: SpokenLine, dubbed: DubbedLine):
    return run.check_dub(line, screenplay, dubbed)


@task(name="storyboard", task_run_name="storyboard{suffix}", cache_policy=NO_CACHE)
def make_storyboard(run: Run, screenplay: Screenplay, durations: dict[str, float], sheet: bool = True,
                    suffix: str = "") -> StoryboardOutput:
    return run.stage("storyboard", StoryboardInput(screenplay=screenplay, line_durations=durations, contact_sheet=sheet,
                                                   fps=run.config.render.fps), task_name="storyboard" + suffix)


@task(name="character-reference", task_run_name="reference {character.id}", cache_policy=NO_CACHE)
def character_reference(run: Run, character: Character) -> str:
    """One reference image per character: the asset library's sheet, else one made seeded by the character id."""
    if kept := run.library_image(character.id):
        return kept
    prompt = f"Character sheet, full body, plain background: {character.name}, {character.look}"
    with gpu_slot(run):
        out = run.stage("keyframe", KeyframeInput(key=character.id, prompt=prompt), task_name="character-reference")
    return out.image


@task(name="render-shot", task_run_name="render {shot.shot.id}", cache_policy=NO_CACHE)
def render_shot(run: Run, shot: TimedShot, characters: list[Character], language: str,
                references: dict[str, str]) -> ShotClip:
    # A take is keyed on the shot's content and a whole-second length (Run.visuals_input), so edits elsewhere,
    # and line edits that keep the shot within its take, reuse it; finishing cuts it to the shot.
    takes: dict[int, ShotClip] = {}
    for take in run.takes_of(shot.shot.id):  # the run's takes, or more where the studio asked for a redo
        with gpu_slot(run), run.take(shot, take, takes):
            takes[take] = run.stage("visuals", run.visuals_input(shot, take, characters, language, references),
                                    task_name="render-shot", shot_id=shot.shot.id)
    return run.take_in_cut(shot.shot.id, takes)  # the newest approved take, else the first not rejected


@task(name="subtitles", cache_policy=NO_CACHE)
def write_subtitles(run: Run, storyboard: Storyboard, alignment: dict, secondary: dict[str, str]) -> SubtitleFiles:
    r = run.config.render
    return run.stage("subtitles", SubtitlesInput(storyboard=storyboard, width=r.width, height=r.height,
                                                 style=run.config.subtitles.style(), alignment=alignment,
                                                 secondary=secondary), task_name="subtitles")


@task(name="finish-shot", task_run_name="finish {shot.shot.id}", cache_policy=NO_CACHE)
def finish_shot(run: Run, shot: TimedShot, subs: SubtitleFiles, clip: ShotClip, language: str) -> FinishedShot:
    """Segmented mode: burn this shot's own subtitles and marks (see `finish_input`)."""
    with run.render_slots:
        return run.stage("finish", finish_input(run.config, shot, subs, clip, language), task_name="finish-shot",
                         shot_id=shot.shot.id)


@task(name="mix", cache_policy=NO_CACHE)  # the sound needs no picture: it is mixed while the shots render
def mix_sound(run: Run, storyboard: Storyboard, audio: dict[str, str]) -> MixedSound:
    run.sound = run.stage("mix", MixInput(storyboard=storyboard, line_audio=audio, audio_label=run.config.mark.audio,
                                          loudness=run.config.render.loudness, music=run.music), task_name="mix")
    return run.sound


@task(name="consistency", cache_policy=NO_CACHE)
def check_consistency(storyboard: Storyboard, clips: dict[str, ShotClip]) -> dict[str, dict]:
    return character_consistency([(ts.shot.characters, clips[ts.shot.id].video) for ts in storyboard.shots])


@task(name="assemble", cache_policy=NO_CACHE)
def assemble_cut(run: Run, storyboard: Storyboard, segments: dict[str, str], sound: MixedSound) -> FinalCut:
    r = run.config.render
    return run.stage("assemble", AssembleInput(storyboard=storyboard, segments=segments, sound=sound,
                                               width=r.width, height=r.height), task_name="assemble")


@task(name="compose", cache_policy=NO_CACHE)
def compose_cut(run: Run, storyboard: Storyboard, clips: dict[str, str], sound: MixedSound,
                ass: str | None) -> FinalCut:
    """Single-pass mode: the whole cut in one encode."""
    return run.stage("compose", ComposeInput(
        storyboard=storyboard, clips=clips, sound=sound, subtitles_ass=ass, mark=run.config.mark,
        encode=run.config.render.final_encode(), opening_text=opening_text(run.config, storyboard.language),
        opening_seconds=OPENING_SECONDS), task_name="compose")


@task(name="label-and-check", cache_policy=NO_CACHE)
def label_outputs(run: Run, files: list[Path], title: str) -> list[dict]:
    return run.label_outputs(files, title)


# ---- the flow ------------------------------------------------------------------------------------

@flow(name="episode", task_runner=ThreadPoolTaskRunner(max_workers=4), log_prints=False)
def episode_flow(source: Path, config: ProjectConfig, out_dir: Path = Path("out"), run_name: str = "demo",
                 force: bool = False, voice_bank: Path | None = None, budget_rmb: float | None = None,
                 budget_key: str | None = None, takes: int = 1) -> RunSummary:
    """Render one episode from a brief or a screenplay into `out_dir/run_name/`; a series passes its voice
    bank so every episode casts the same voices, and its budget key so all episodes spend from one cap."""
    budget = shared_budget(budget_key or uuid.uuid4().hex, Decimal(str(budget_rmb))) if budget_rmb is not None else None
    return render_episode(source, config, out_dir, run_name, force, voice_bank=voice_bank, budget=budget, takes=takes)


def render_episode(source: Path, config: ProjectConfig, out_dir: Path, run_name: str, force: bool = False,
                   echo: Callable[[str], None] | None = None, voice_bank: Path | None = None,
                   budget: Budget | None = None, takes: int = 1) -> RunSummary:
    started = time.perf_counter()

    # 1. Check everything before anything is written: the source, the run name, the stages and their options.
    material = read_source(source := Path(source))
    check_run_name(run_name)
    check_stages(config)
    episode_no = material.episode if isinstance(material, Brief) else material.episode.number
    run = Run(config, out_dir, run_name, episode_no, force=force, echo=echo_and_log(echo), budget=budget, takes=takes)
    run.start()
    run.progress(f"run {run.id} → {run.dir}")
    try:
        run.quote_first(material)  # over the budget: refused here, before any paid call
        return _render(run, source, material, started, voice_bank)
    except BaseException as exc:
        run.mark_failed(exc)
        raise


def _render(run: Run, source: Path, material: Brief | Screenplay, started: float,
            voice_bank: Path | None) -> RunSummary:
    config = run.config

    # 2. Screenplay and dubbing: written from the brief (or taken as it is), cast to distinct voices, every line
    #    dubbed in parallel. A writer that re-fits for free writes again at the voices' measured pace when the
    #    episode would miss its target length by more than ±15% (unchanged lines are reused from the store).
    screenplay, dubbed = _write_and_dub(run, material, voice_bank)
    pace = run.refit_pace(material, screenplay, {k: v.duration_s for k, v in dubbed.items()})
    if pace is not None:
        screenplay, dubbed = _write_and_dub(run, material, voice_bank, pace)
    lines, series = screenplay.spoken_lines(), screenplay.series

    # 3. Dub QA: Whisper hears every line; a misheard line is re-dubbed once. Its words align subtitles.
    qa = DubQAReport(skipped=qa_plan(config, series.language))
    alignment: dict[str, list] = {}
    if qa.skipped:
        run.progress(f"dub QA skipped: {qa.skipped}")
    else:
        futures = {ln.id: qa_line.submit(run, screenplay, ln, dubbed[ln.id]) for ln in lines}
        for line_id, fut in futures.items():
            line_qa, dubbed[line_id], words = fut.result()
            qa.lines.append(line_qa)
            if config.qa.align_subtitles and words:
                alignment[line_id] = words
        scores = [q.score for q in qa.lines]
        run.progress(f"dub QA: {len(scores)} lines, mean {qa.lines[0].metric.upper() if qa.lines else ''} "
                     f"{sum(scores) / max(1, len(scores)):.2f}, {sum(q.flagged for q in qa.lines)} flagged, "
                     f"{sum(q.resynthesised for q in qa.lines)} re-dubbed")

    # 4. Storyboard: shots timed from the measured lines, frame-exact; its contact sheet is drawn beside the cut.
    #    Timing (and step 5's subtitles) takes milliseconds, less than a task run's round trips: called in place.
    durations = {k: v.duration_s for k, v in dubbed.items()}
    board = make_storyboard.fn(run, screenplay, durations, sheet=False).storyboard
    board_out = make_storyboard.submit(run, screenplay, durations, suffix=" sheet")
    run.progress(f"storyboard: {len(board.shots)} shots, {board.duration_s:.1f} s")

    # 5. Subtitles; the sound, mixed beside the pictures (licensed beds under their scenes, ducked under the
    #    voices); then the pictures: character references first when the visuals model needs them.
    subs = write_subtitles.fn(run, board, alignment, load_translation(config, screenplay))
    run.music = music_beds(config, board)
    sound = mix_sound.submit(run, board, {k: v.audio for k, v in dubbed.items()})
    references: dict[str, str] = {}
    if run.wants_references():
        ref_futures = {c.id: character_reference.submit(run, c) for c in series.characters}
        references = {cid: f.result() for cid, f in ref_futures.items()}
        run.progress(f"character references: {', '.join(references)}")
    cast = {ts.shot.id: [series.character(c) for c in ts.shot.characters] for ts in board.shots}
    shot_futures = {ts.shot.id: submit_or_reuse(render_shot, run.shot_held(ts, cast[ts.shot.id], series.language,
                                                references), run, ts, cast[ts.shot.id], series.language, references)
                    for ts in board.shots}  # a step the store holds is read in place (pipelines/steps.py)
    consistency = check_consistency.submit(board, shot_futures)  # identity across shots, read beside the cut

    # 6. The cut: shots finished as their clips arrive, joined with the sound by copy (segmented); or one encode.
    #    Covers and stems need only the takes and the sound: they are made beside it (`Run.start_extras`).
    clips: dict[str, ShotClip] = {}
    if config.render.mode == "segmented":
        finish_futures = {ts.shot.id: submit_or_reuse(finish_shot, run.finish_held(ts, subs, shot_futures[ts.shot.id],
                                                                                  series.language),
                                                      run, ts, subs, shot_futures[ts.shot.id], series.language)
                          for ts in board.shots}
    run.start_extras(screenplay, board, dubbed, lambda: [resolve(f) for f in shot_futures.values()], sound.result)
    if config.render.mode == "segmented":
        segments = {}
        for i, (shot_id, fut) in enumerate(finish_futures.items(), 1):
            clips[shot_id] = resolve(shot_futures[shot_id])
            segments[shot_id] = resolve(fut).video
            run.progress(f"[shot {i}/{len(board.shots)}] {shot_id} {board.shot(shot_id).duration_s:.2f}s "
                         f"({clips[shot_id].source}) rendered and finished")
        cut = assemble_cut(run, board, segments, sound.result())
    else:
        for i, (shot_id, fut) in enumerate(shot_futures.items(), 1):
            clips[shot_id] = resolve(fut)
            run.progress(f"[visuals {i}/{len(board.shots)}] {shot_id} {board.shot(shot_id).duration_s:.2f}s "
                         f"({clips[shot_id].source})")
        run.progress("compose: encoding the final cut…")
        cut = compose_cut(run, board, {k: c.video for k, c in clips.items()}, sound.result(),
                          subs.ass if config.subtitles.burn_in else None)

    # 7. Publish under stable names, then label every published file and read the labels back.
    video = run.publish_outputs(screenplay, board_out.result(), dubbed, subs, cut, source)
    label_reports: list[dict] = []
    if config.labels.enabled:
        run.progress("labels: TC260 metadata" + (" + C2PA" if config.labels.signing else "") + ", then check…")
        targets = [video, run.dir / "storyboard.png", *sorted((run.dir / "audio").glob("*.wav"))]
        label_reports = label_outputs(run, [p for p in targets if p.exists()], series.title)

    # 8. Account for it: cost, filing packs, and the manifest last (its presence means "complete").
    wall = time.perf_counter() - started
    summary = RunSummary(
        run_id=run.id, run_dir=str(run.dir), video=str(video), duration_s=cut.duration_s, shots=len(board.shots),
        lines=len(lines), wall_seconds=round(wall, 2), steps_run=sum(not r.cached for r in run.records),
        steps_cached=sum(r.cached for r in run.records), usage=run.records, cost=run.cost(cut.duration_s))
    run.write_filing_packs(screenplay, summary, label_reports)
    run.write_manifest(source, summary, label_reports, qa, consistency.result())
    publish_artifacts(run, summary, label_reports)
    run.progress(f"done: {video} ({cut.duration_s:.1f} s) in {wall:.1f} s — "
                 f"{summary.steps_run} steps run, {summary.steps_cached} reused from cache")
    return summary


def _write_and_dub(run: Run, material: Brief | Screenplay, voice_bank: Path | None,
                   pace: float = 1.0) -> tuple[Screenplay, dict[str, DubbedLine]]:
    """Steps 2 and 3: the screenplay with its cast locked to voices (the series' voice bank, so a character
    sounds the same in every episode), checked against the subtitles, then every line dubbed in parallel."""
    config = run.config
    screenplay = write_screenplay(run, material, pace) if isinstance(material, Brief) else material
    screenplay, notes = (lock_voices(voice_bank, screenplay, config.narrator_voice) if voice_bank
                         else cast_voices(screenplay, narrator=config.narrator_voice))
    fallback = fallback_note(screenplay, config.stages.dubbing, config.narrator_voice)
    for note in notes + ([fallback] if fallback else []):
        run.progress(f"voices: {note}")
    run.voices_note, run.cast = fallback, cast_record(screenplay, config.stages.dubbing, config.narrator_voice)
    check_subtitles_fit(screenplay, config)  # a line too long for its subtitles stops here, before any voice
    lines = screenplay.spoken_lines()
    run.progress(f"screenplay: {screenplay.episode.title} — {sum(1 for _ in screenplay.shots())} shots, "
                 f"{len(lines)} lines")
    dub_futures = [submit_or_reuse(dub_line, run.holds(*run.dub_step(ln, screenplay)), run, screenplay, ln)
                   for ln in lines]
    dubbed: dict[str, DubbedLine] = {}
    for i, fut in enumerate(dub_futures, 1):
        out = resolve(fut)
        dubbed[out.line_id] = out
        run.progress(f"[dub {i}/{len(lines)}] {out.line_id} {out.duration_s:.2f}s ({out.voice})")
    return screenplay, dubbed
