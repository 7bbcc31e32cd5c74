# syntax=docker/dockerfile:1
# The ext-proc-server image. From the repository root:
#   docker build -f deploy/docker/ext-proc-server.Dockerfile -t weir/ext-proc-server:0.1.0 .
# Then run it read-only:
#   docker run --read-only --tmpfs /tmp -v $PWD/gateway.yaml:/etc/weir/config/gateway.yaml:ro weir/ext-proc-server:0.1.0
# Stages: build the runnable jar with Maven; cut a JRE down to the JDK modules the jar uses
# (jlink); copy both onto slim Debian (glibc, which netty's BoringSSL and ONNX Runtime need).
# The same image without a Docker daemon: mvn -Pjib (docs/deploy.md).
ARG BUILD_IMAGE=maven:3.9-eclipse-temurin-25
ARG RUNTIME_IMAGE=debian:trixie-slim

FROM ${BUILD_IMAGE} AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/root/.m2 \
    mvn -B -q -pl ext-proc-server -am package -DskipTests -Dcheckstyle.skip

FROM ${BUILD_IMAGE} AS jre
# The JDK modules the jar uses, found by scanning its classes for JDK packages; the jar was run on
# a runtime of exactly these modules (a full exchange served; docs/deploy.md#images).
ARG JRE_MODULES=java.base,java.logging,java.management,java.naming,java.net.http,java.sql,java.xml,jdk.httpserver,jdk.jfr,jdk.management,jdk.naming.dns,jdk.unsupported,jdk.zipfs
RUN jlink --add-modules ${JRE_MODULES} --strip-debug --no-man-pages --no-header-files --compress=zip-6 \
    --output /opt/jre

FROM ${RUNTIME_IMAGE}
ARG RUNTIME_IMAGE
ARG VERSION=0.1.0-SNAPSHOT
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="weir-ext-proc-server" \
      org.opencontainers.image.description="Weir's Envoy external processing server: authentication, token limits, caching, content safety, routing, provider translation" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.vendor="Weir" \
      org.opencontainers.image.documentation="docs/deploy.md" \
      org.opencontainers.image.base.name="${RUNTIME_IMAGE}"
# A fixed numeric non-root user, so Kubernetes' runAsNonRoot can verify it.
RUN groupadd --system --gid 10001 weir \
 && useradd --system --uid 10001 --gid weir --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin weir
COPY --from=jre /opt/jre /opt/java
COPY --from=build /src/ext-proc-server/target/ext-proc-server.jar /opt/weir/ext-proc-server.jar
COPY --chmod=0755 deploy/docker/weir-probe /opt/weir/bin/weir-probe
ENV JAVA_HOME=/opt/java \
    PATH=/opt/java/bin:/opt/weir/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# Sized by the container's memory limit, not the node's. Heap 60% leaves room for Netty's direct
# buffers, metaspace and threads. No hsperfdata file and temp files in /tmp only: the root
# filesystem can be read-only (mount /tmp as tmpfs or emptyDir). Override with JDK_JAVA_OPTIONS.
ENV JDK_JAVA_OPTIONS="-XX:MaxRAMPercentage=60 -XX:InitialRAMPercentage=25 -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError -XX:-UsePerfData -Djava.io.tmpdir=/tmp"
USER 10001:10001
WORKDIR /opt/weir
# 50051: ext_proc gRPC; 9464: admin (/healthz, /readyz, /metrics).
EXPOSE 50051 9464
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 CMD ["/opt/weir/bin/weir-probe", "9464", "/readyz"]
# SIGTERM reaches java directly (exec form, PID 1): the shutdown hook drains, then exits.
ENTRYPOINT ["java", "--enable-native-access=ALL-UNNAMED", "-jar", "/opt/weir/ext-proc-server.jar"]
CMD ["--config", "/etc/weir/config/gateway.yaml"]
