# syntax=docker/dockerfile:1
# The compose stack's scripted OpenAI-compatible upstream (test-kit's DemoUpstream): answers chat
# completions without a provider account. For trying Weir, never for production.
ARG BUILD_IMAGE=maven:3.9-eclipse-temurin-25
FROM ${BUILD_IMAGE} AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/root/.m2 mvn -B -q -pl test-kit -am package -DskipTests -Dcheckstyle.skip

FROM eclipse-temurin:25-jre
LABEL org.opencontainers.image.title="weir-demo-upstream" \
      org.opencontainers.image.description="A scripted OpenAI-compatible upstream for trying Weir"
COPY --from=build /src/test-kit/target/test-kit.jar /opt/weir/test-kit.jar
USER 10001:10001
EXPOSE 18080
ENTRYPOINT ["java", "-cp", "/opt/weir/test-kit.jar", "dev.weir.testkit.DemoUpstream"]
CMD ["18080"]
