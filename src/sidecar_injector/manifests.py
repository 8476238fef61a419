"""manifests: see DESIGN.md."""
