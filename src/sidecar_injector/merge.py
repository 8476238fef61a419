"""merge: see DESIGN.md."""
