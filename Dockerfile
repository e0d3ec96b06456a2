# rollouts-dashboard: build the release binary, run it as uid 1000 on a
# minimal base. (No Docker engine runs on the project's machines: CI lints
# this file with hadolint; the image build itself is not exercised there.)
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY templates ./templates
COPY static ./static
# The image's binary carries no debug information or symbols (the local
# release profile keeps line tables for profiling).
ENV CARGO_PROFILE_RELEASE_DEBUG=false \
    CARGO_PROFILE_RELEASE_STRIP=symbols
RUN cargo build --release --locked \
    && cp target/release/rollouts-dashboard /rollouts-dashboard

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /rollouts-dashboard /usr/local/bin/rollouts-dashboard
USER 1000:1000
EXPOSE 3100 9090
ENTRYPOINT ["/usr/local/bin/rollouts-dashboard"]
CMD ["serve", "--listen=0.0.0.0:3100", "--admin-listen=0.0.0.0:9090"]
