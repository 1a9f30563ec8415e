"""LLM-driven producers of the same domain objects the rule-based skills produce.

The screenwriter, director, localizer and continuity agents arrive with the LLM issue; the
offline default writer is `microdrama.skills.screenplay_rules`.
"""
