"""One-stop dossiers (một cửa): reception, codes, statuses, timeline, public lookup."""

from engine.dossiers import progress as _progress  # noqa: F401  (attaches the runtime hook)
