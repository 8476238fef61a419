"""inject: see DESIGN.md."""
