"""AIGC labelling (GB 45438-2025): visible marks, TC260 metadata, C2PA credentials, and the checker."""
