"""The studio: a local web app over the run folders, where a person reviews, approves, redoes and edits takes.

    microdrama studio [--out out] [--host 127.0.0.1] [--port 8765]

`pipelines/studio.py` keeps one warm render process (Prefect, the skill registry, loaded models) so an edit pays no
start-up; `pages.py` turns a run folder into what a page shows; `app.py` is the HTTP face (server-rendered
pages, a little JavaScript for live progress), safe by default: loopback only unless a token is set,
CSRF-checked forms, every path resolved inside the out folder.
"""
