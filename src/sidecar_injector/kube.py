"""kube: see DESIGN.md."""
