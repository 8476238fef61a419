"""Go's text/template (with sprig), faithful to Go 1.19+, self-contained."""
