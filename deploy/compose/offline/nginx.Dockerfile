# Stand-in for the official nginx image: Debian's nginx (1.22, the version `make run` uses), which
# renders docker-compose.yml's template at start as the official image does (nginx-entrypoint.sh).
# wget: the gateway's health check in docker-compose.yml.
ARG DEBIAN_IMAGE
FROM ${DEBIAN_IMAGE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends nginx gettext-base wget \
    && rm -rf /var/lib/apt/lists/*
COPY deploy/compose/offline/nginx-entrypoint.sh /usr/local/bin/
ENTRYPOINT ["nginx-entrypoint.sh"]
CMD ["nginx", "-g", "daemon off;"]
