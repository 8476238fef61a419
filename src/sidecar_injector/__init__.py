"""Kubernetes sidecar injection, compatible with Istio's injector configuration."""

__version__ = "0.1.0"
