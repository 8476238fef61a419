"""workloads: see DESIGN.md."""
