# syntax=docker/dockerfile:1
# The xds-control-plane image. From the repository root:
#   docker build -f deploy/docker/xds-control-plane.Dockerfile -t weir/xds-control-plane:0.1.0 .
# Then run it read-only:
#   docker run --read-only --tmpfs /tmp -v $PWD/gateway.yaml:/etc/weir/config/gateway.yaml:ro weir/xds-control-plane:0.1.0
# Stages: build the runnable jar with Maven; cut a JRE down to the JDK modules the jar uses
# (jlink); copy both onto slim Debian (glibc, which netty's BoringSSL and ONNX Runtime need).
# The same image without a Docker daemon: mvn -Pjib (docs/deploy.md).
ARG BUILD_IMAGE=maven:3.9-eclipse-temurin-25
ARG RUNTIME_IMAGE=debian:trixie-slim

FROM ${BUILD_IMAGE} AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/root/.m2 \
    mvn -B -q -pl xds-control-plane -am package -DskipTests -Dcheckstyle.skip

FROM ${BUILD_IMAGE} AS jre
# The JDK modules the jar uses, found by scanning its classes for JDK packages; the jar was run on
# a runtime of exactly these modules (a full exchange served; docs/deploy.md#images).
ARG JRE_MODULES=java.base,java.logging,java.naming,java.sql,jdk.httpserver,jdk.jfr,jdk.naming.dns,jdk.unsupported
RUN jlink --add-modules ${JRE_MODULES} --strip-debug --no-man-pages --no-header-files --compress=zip-6 \
    --output /opt/jre

FROM ${RUNTIME_IMAGE}
ARG RUNTIME_IMAGE
ARG VERSION=0.1.0-SNAPSHOT
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="weir-xds-control-plane" \
      org.opencontainers.image.description="Weir's xDS control plane: serves the gateway config to Envoy over ADS" \
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
COPY --from=build /src/xds-control-plane/target/xds-control-plane.jar /opt/weir/xds-control-plane.jar
COPY --chmod=0755 deploy/docker/weir-probe /opt/weir/bin/weir-probe
ENV JAVA_HOME=/opt/java \
    PATH=/opt/java/bin:/opt/weir/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# Sized by the container's memory limit, not the node's. Heap 70% leaves room for Netty's direct
# buffers, metaspace and threads. No hsperfdata file and temp files in /tmp only: the root
# filesystem can be read-only (mount /tmp as tmpfs or emptyDir). Override with JDK_JAVA_OPTIONS.
ENV JDK_JAVA_OPTIONS="-XX:MaxRAMPercentage=70 -XX:InitialRAMPercentage=25 -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError -XX:-UsePerfData -Djava.io.tmpdir=/tmp"
USER 10001:10001
WORKDIR /opt/weir
# 18000: ADS gRPC; 18001: admin (/healthz, /version, /resources).
EXPOSE 18000 18001
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 CMD ["/opt/weir/bin/weir-probe", "18001", "/healthz"]
# SIGTERM reaches java directly (exec form, PID 1): the shutdown hook drains, then exits.
ENTRYPOINT ["java", "--enable-native-access=ALL-UNNAMED", "-jar", "/opt/weir/xds-control-plane.jar"]
CMD ["--config", "/etc/weir/config/gateway.yaml"]
