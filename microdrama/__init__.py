"""microdrama: a toolkit for AI micro-dramas (vertical 9:16 episodes of 1-3 minutes).

Data walks one way: brief -> screenplay -> dubbing -> storyboard -> visuals -> subtitles -> compose.
Each stage is a skill (`microdrama.skills`), wired together by Prefect flows (`microdrama.pipelines`).
"""

__version__ = "0.1.0"
