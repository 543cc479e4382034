# Google's Pub/Sub emulator (for `docker compose --profile google`) where its registry image
# (gcr.io/google.com/cloudsdktool/google-cloud-cli:emulators) cannot be pulled. Built by
# `python -m harness images --google`: the context holds pubsub-emulator/, the files of the
# Debian package google-cloud-cli-pubsub-emulator; the JRE comes from Debian (build with the
# host's network: `--network host`).
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
# (the JRE's post-install links its manual page: slim bases have no /usr/share/man/man1)
RUN mkdir -p /usr/share/man/man1 \
 && apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      openjdk-17-jre-headless \
 && rm -rf /var/lib/apt/lists/*
COPY pubsub-emulator /opt/pubsub-emulator
EXPOSE 8085
ENTRYPOINT ["/opt/pubsub-emulator/bin/cloud-pubsub-emulator"]
CMD ["--host=0.0.0.0", "--port=8085"]
