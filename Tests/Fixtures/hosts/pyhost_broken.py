"""A module that fails when imported."""

raise RuntimeError("broken at import")
