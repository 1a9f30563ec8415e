"""A scripted 'model' for agent tests: it answers each agent's prompt with plausible JSON."""

from __future__ import annotations

import copy
import json
import re

from tests.conftest import TINY_SCREENPLAY


def respond(body: dict) -> str:
    system = body["messages"][0]["content"]
    user = body["messages"][1]["content"]  # the task, even when the last message is a repair request
    if "screenwriter" in system:
        return json.dumps(TINY_SCREENPLAY, ensure_ascii=False)
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
