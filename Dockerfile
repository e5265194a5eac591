# cosem-reader in a container: see docs/daemon.md ("Docker").
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
COPY generated ./generated
# tzdata: the IANA zones for TZ=Europe/Vienna, whatever the base image ships.
RUN pip install . tzdata && rm -rf /src

# A non-root user; the serial device is granted with --group-add (the host's dialout GID).
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin cosem-reader \
    && mkdir -p /etc/cosem-reader /data \
    && chown cosem-reader /data
USER cosem-reader
WORKDIR /data

ENTRYPOINT ["cosem-reader"]
# Settings from COSEM_READER_* variables and/or a mounted /etc/cosem-reader/config.toml.
CMD ["read"]
