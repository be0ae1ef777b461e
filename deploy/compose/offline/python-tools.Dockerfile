# The Python stand-ins, from the wheelhouse like the service images (deploy/docker/Dockerfile):
# SecantusDB for MongoDB, and the project's SMTP capture server (crs_tools.smtp_capture) for
# Mailpit. docker-compose.offline.yml picks one with --target.
ARG PYTHON_IMAGE
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INDEX=1 \
    PIP_FIND_LINKS=/wheelhouse
RUN python -m venv /opt/venv
COPY var/wheelhouse/ /wheelhouse/
RUN /opt/venv/bin/pip install secantusdb
COPY shared/ shared/
COPY tools/ tools/
RUN /opt/venv/bin/pip install ./shared ./tools

FROM ${PYTHON_IMAGE} AS mongodb
COPY --from=build /opt/venv /opt/venv

FROM ${PYTHON_IMAGE} AS smtp
COPY --from=build /opt/venv /opt/venv
# Root: the mail folder is a bind mount of the host (docker-compose.offline.yml), which a fresh
# Docker creates as root.
CMD ["/opt/venv/bin/smtp-capture", "--host", "0.0.0.0", "--port", "1025", "--folder", "/var/mail/crs"]
