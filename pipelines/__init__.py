"""Prefect flows that wire skills together. The only place that knows about tasks and caching.

Offline process settings (no model hub, Prefect state inside the work tree) must be in place
before Prefect is first imported, so they are applied here, once, for every flow module.
"""

from microdrama.env import apply_offline_defaults

apply_offline_defaults()
