"""Istio's template functions (`InjectionFuncmap`), registered over sprig."""

from __future__ import annotations

from sidecar_injector.gotemplate.values import Func

FUNCS: dict[str, Func] = {}
