"""decision: see DESIGN.md."""
