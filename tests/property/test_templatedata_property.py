"""Template data never crashes on odd pods, and reads as the pod says."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar_injector import config, templatedata
from sidecar_injector.gotemplate.values import Struct

CONFIG = config.load_default()
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(allow_nan=False),
    st.text(max_size=8),
)  # fmt: skip
JSONS = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)
NAMES = st.text(alphabet="abcdefghij-", min_size=1, max_size=10)
PORTS = st.fixed_dictionaries(
    {"containerPort": st.integers(1, 65535)},
    optional={"name": NAMES, "protocol": st.sampled_from(["TCP", "UDP", "SCTP"])},
)
CONTAINERS = st.fixed_dictionaries(
    {"name": NAMES},
    optional={"image": NAMES, "ports": st.lists(PORTS, max_size=3), "resources": JSONS},
)
PODS = st.fixed_dictionaries(
    {
        "metadata": st.fixed_dictionaries(
            {"name": NAMES},
            optional={
                "labels": st.dictionaries(NAMES, NAMES, max_size=3),
                "annotations": st.dictionaries(NAMES, NAMES, max_size=3),
                "generateName": NAMES,
                "ownerReferences": st.lists(JSONS, max_size=2),
            },
        ),
        "spec": st.fixed_dictionaries(
            {"containers": st.lists(CONTAINERS, min_size=1, max_size=3)},
            optional={"serviceAccountName": NAMES, "securityContext": JSONS, "volumes": JSONS},
        ),
    }
)


@settings(max_examples=30, deadline=None)
@given(PODS)
def test_the_default_template_renders_every_generated_pod(pod: dict[str, Any]) -> None:
    data = templatedata.build(pod, config=CONFIG, namespace="ns")
    rendered = yaml.safe_load(CONFIG.injection.templates["sidecar"].execute(data))
    proxy = rendered["spec"]["containers"][0]
    assert proxy["name"] == "istio-proxy"
    env = {e["name"]: e.get("value") for e in proxy["env"]}
    ports = [p for c in pod["spec"]["containers"] for p in c.get("ports", [])]
    assert env["ISTIO_META_POD_PORTS"].count("containerPort") == len(ports)


@settings(max_examples=60, deadline=None)
@given(JSONS, JSONS)
def test_any_json_in_meta_and_spec_reads_without_crashing(meta: Any, spec: Any) -> None:
    data = templatedata.build({"metadata": meta, "spec": spec}, config=CONFIG, namespace="ns")
    for path in (("Spec", "Containers"), ("Spec", "SecurityContext"), ("ObjectMeta", "Labels")):
        value: object = data
        for name in path:
            assert isinstance(value, Struct)
            value = value.go_field(name)
