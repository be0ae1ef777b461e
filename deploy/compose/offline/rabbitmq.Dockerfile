# Stand-in for the official rabbitmq image: Debian's rabbitmq-server, which docker-compose.yml
# configures as it does the official one (rabbitmq.conf in conf.d, enabled_plugins and
# definitions.d), through rabbitmq-entrypoint.sh. Logs go to standard output, as in the official
# image: the server itself, not Debian's wrapper, which writes them to files.
ARG DEBIAN_IMAGE
FROM ${DEBIAN_IMAGE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends rabbitmq-server \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /etc/rabbitmq/conf.d /etc/rabbitmq/definitions.d /var/lib/rabbitmq/conf.d \
    && chown rabbitmq:rabbitmq /var/lib/rabbitmq/conf.d
COPY deploy/compose/offline/rabbitmq-entrypoint.sh /usr/local/bin/
ENV RABBITMQ_LOGS=- \
    RABBITMQ_CONFIG_FILES=/var/lib/rabbitmq/conf.d \
    HOME=/var/lib/rabbitmq
USER rabbitmq
WORKDIR /var/lib/rabbitmq
ENTRYPOINT ["rabbitmq-entrypoint.sh"]
CMD ["/usr/lib/rabbitmq/bin/rabbitmq-server"]
