"""metrics: see DESIGN.md."""
