"""config: see DESIGN.md."""
