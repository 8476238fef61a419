"""patch: see DESIGN.md."""
