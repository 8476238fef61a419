"""certs: see DESIGN.md."""
