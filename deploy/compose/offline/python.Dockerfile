# Stand-in for the official python:3.11-slim-bookworm image where no registry answers: Debian's own
# Python 3.11 on the debootstrap base (debian-base.sh). The service images build FROM it offline.
ARG DEBIAN_IMAGE
FROM ${DEBIAN_IMAGE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && ln -s python3 /usr/bin/python
