# The injector image: `docker build -t sidecar-injector .`
# Stage 1 installs the project and its dependencies into a venv: dependencies as wheels only, the
# project built with its compiled core (setup.py: mypyc, so gcc is needed here and only here);
# stage 2 copies that venv onto a clean base and runs as an unprivileged user.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY src ./src
RUN python -m venv /opt/sidecar-injector \
 && /opt/sidecar-injector/bin/pip install --only-binary=:all: --no-binary=sidecar-injector . \
 && /opt/sidecar-injector/bin/pip uninstall -y pip setuptools wheel \
 && /opt/sidecar-injector/bin/python -m compileall -q /opt/sidecar-injector \
 && /opt/sidecar-injector/bin/sidecar-injector version | grep -q 'compiled with mypyc'

FROM ${PYTHON_IMAGE}
RUN python -m pip uninstall -y pip setuptools wheel || true
COPY --from=build /opt/sidecar-injector /opt/sidecar-injector
ENV PATH=/opt/sidecar-injector/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/var/run/sidecar-injector
USER 65532:65532
EXPOSE 9443
ENTRYPOINT ["sidecar-injector"]
CMD ["serve", "--host=0.0.0.0", "--port=9443"]
