#!/bin/sh
# A stand-in for the base images, for machines that cannot reach a container registry:
# a Debian bookworm root file system made with debootstrap from the distribution's
# packages, imported into podman as IMAGE. The published Dockerfiles keep their real
# base images; `make image-test` passes this one as BASE / BUILD_FROM.
set -eu
IMAGE=${1:-localhost/cosem-reader-standin-base:bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

if podman image exists "$IMAGE"; then
    exit 0
fi
rootfs=$(mktemp -d /tmp/cosem-reader-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
# python3 with pip and venv: what python:3.11-slim and the Home Assistant Python base
# bring; bash for the add-on's run script.
debootstrap --variant=minbase --include=python3,python3-pip,python3-venv,ca-certificates,bash \
    bookworm "$rootfs" "$MIRROR"
# python:3.11-slim's Python is not marked as managed by the distribution (PEP 668);
# Debian's is, and pip would refuse `pip install .` without this.
rm -f "$rootfs"/usr/lib/python3*/EXTERNALLY-MANAGED
# Trust what this machine trusts (a proxy between it and PyPI may sign with its own CA).
cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
tar -C "$rootfs" --numeric-owner -c . | podman import --change 'CMD ["/bin/bash"]' - "$IMAGE"
