"""istio_funcs: see DESIGN.md."""
