# cosem-reader in a container: see docs/daemon.md ("Docker").
# BASE is only overridden by `make image-test`, which has no registry to pull from and
# builds on a stand-in made from Debian packages (packaging/standin-base.sh).
ARG BASE=python:3.11-slim
FROM ${BASE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
COPY generated ./generated
# tzdata: the IANA zones for TZ=Europe/Vienna, whatever the base image ships.
RUN pip install . tzdata && rm -rf /src

# A non-root user; the serial device is granted with --group-add (the host's dialout GID).
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin cosem-reader \
    && mkdir -p /etc/cosem-reader /data /usr/share/doc/cosem-reader \
    && chown cosem-reader /data
COPY LICENSE /usr/share/doc/cosem-reader/LICENSE
USER cosem-reader
WORKDIR /data

ENTRYPOINT ["cosem-reader"]
# Settings from COSEM_READER_* variables and/or a mounted /etc/cosem-reader/config.toml.
CMD ["read"]
