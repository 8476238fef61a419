"""render: see DESIGN.md."""
