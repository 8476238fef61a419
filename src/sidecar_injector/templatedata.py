"""templatedata: see DESIGN.md."""
