"""Prefect flows that wire skills together. The only place that knows about tasks and caching."""
