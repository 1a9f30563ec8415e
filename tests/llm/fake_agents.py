"""A scripted 'model' for agent tests: it answers each agent's prompt with plausible JSON."""

from __future__ import annotations

import copy
import json
import re

from microdrama.domain import Screenplay, estimate_episode_seconds
from tests.conftest import TINY_SCREENPLAY

FILLER_LINE = "我不会再忍了，今天就把一切说清楚。"  # one filler shot: about 5 s when spoken


def seconds_of(data: dict) -> float:
    """The screenwriter's own length estimate of a screenplay given as plain data."""
    return estimate_episode_seconds(Screenplay.model_validate(data))


def screenplay_lasting(seconds: float) -> dict:
    """TINY_SCREENPLAY with filler shots before the cliffhanger, estimated as close to `seconds` as they allow."""
    data = copy.deepcopy(TINY_SCREENPLAY)
    for n in range(60):
        longer = copy.deepcopy(data)
        longer["episode"]["scenes"][0]["shots"].insert(-1, {
            "id": f"s{10 + n}", "shot_size": "medium", "visual_prompt": "林夏逼近赵总", "characters": ["lin", "zhao"],
            "lines": [{"speaker": "lin", "text": FILLER_LINE}]})
        if abs(seconds_of(longer) - seconds) >= abs(seconds_of(data) - seconds):
            break
        data = longer
    return data


def respond(body: dict) -> str:
    system = body["messages"][0]["content"]
    user = body["messages"][1]["content"]  # the task, even when the last message is a repair request
    if "screenwriter" in system:  # a screenplay as long as the rules ask for
        target = int(re.search(r"episode of (\d+) seconds", system).group(1))
        return json.dumps(screenplay_lasting(target), ensure_ascii=False)
    if "director" in system:
        ids = re.findall(r"^- (s\d+) ", user, re.M)
        return json.dumps({"shots": [{"id": i, "shot_size": "close_up", "camera_move": "push_in",
                                      "visual_prompt": f"Shot {i}: Lin Xia in a white shirt, night banquet"}
                                     for i in ids]})
    if "localise" in system:
        lines = dict(re.findall(r"^(s\d+-l\d+): (.*)$", user, re.M))
        return json.dumps({"title": "The Return", "episode_title": "Back", "logline": "She came back.",
                           "names": {"lin": "Lin Xia", "zhao": "Mr. Zhao"},
                           "lines": {k: "Get out!" for k in lines}})
    if "script supervisor" in system:
        return json.dumps({"issues": [{"episode": 2, "shot_id": "s02", "kind": "prop",
                                       "detail": "the phone vanishes between shots"}]})
    raise AssertionError(f"unexpected prompt: {system[:80]}")


def screenplay_without_hook() -> str:
    data = copy.deepcopy(TINY_SCREENPLAY)
    data["episode"]["scenes"][0]["shots"][0]["lines"] = []
    return json.dumps(data, ensure_ascii=False)
