# The vertexops operator image: `vertexops run` as a non-root user, nothing in it but Python and the package.
#
#   docker build -t vertexops:dev .
#
# Two stages: the build stage installs the package and its pinned dependencies into a virtual environment,
# the runtime stage copies only that environment, so no build tool, source tree or pip cache ships (and no
# pip or setuptools either: the operator never installs anything). The kubernetes client's asyncio copy
# (kubernetes/aio, a quarter of the image) is removed: the operator uses the synchronous client only.
#
# Without Docker, tools/build-image.sh builds the same image from Debian packages; it reads the runtime
# stage's USER, ENTRYPOINT, CMD, ENV, LABEL and EXPOSE from this file, so keep them literal here.

FROM python:3.11.14-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY controller/ controller/
COPY emulator/ emulator/
RUN python -m venv /opt/vertexops \
 && /opt/vertexops/bin/pip install --constraint constraints.txt . \
 && /opt/vertexops/bin/python -m pip uninstall --yes pip setuptools \
 && rm -rf /opt/vertexops/lib/python3.11/site-packages/kubernetes/aio \
 && /opt/vertexops/bin/vertexops run --help >/dev/null

FROM python:3.11.14-slim-bookworm
LABEL org.opencontainers.image.title="vertexops" \
      org.opencontainers.image.description="Kubernetes operator that fine-tunes Gemini models the GitOps way" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/vertexops/vertexops"
COPY --from=build /opt/vertexops /opt/vertexops
# MALLOC_ARENA_MAX=2: glibc gives each thread that allocates its own arena and keeps what it freed there; the
# operator runs a reconcile worker thread per worker and kind (16 each by default), so without a cap the
# memory freed after the first pass over 10,000 jobs stays resident in many arenas (238 MiB against 180 MiB
# with the cap, bench/RESULTS.md). Two arenas cost nothing measurable here: the workers wait on the network.
ENV PATH=/opt/vertexops/bin:$PATH \
    LANG=C.UTF-8 \
    MALLOC_ARENA_MAX=2 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# A numeric user, so the kubelet can check runAsNonRoot without reading /etc/passwd; the chart uses the same.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["vertexops"]
CMD ["run"]
