"""The skill library: one self-contained file per skill (see `microdrama.skill.Skill`)."""
