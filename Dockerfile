# syntax=docker/dockerfile:1
# cmek-gate: the admission webhook server (`cmek-gate serve`) and the CLI, in a distroless image.
#
#   docker build -t REGISTRY/cmek-gate:0.1.0 .
#
# Not built on the machine this was written on (no Docker engine there); see helm/cmek-gate/README.md.

# --- build ---------------------------------------------------------------------------------------
# Bookworm = Debian 12, the same glibc as the runtime image below (a newer builder would link
# against symbols debian12 lacks).
FROM rust:1.95-bookworm AS build
WORKDIR /src
# The whole crate (.dockerignore keeps target/, .git/ and the chart out). Cargo.toml names the
# integration test and benchmark targets, so their files must be present even for a plain build.
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
 && objcopy --strip-debug target/release/cmek-gate /cmek-gate

# --- run -----------------------------------------------------------------------------------------
# The binary needs libc, libm and libgcc_s only (TLS is rustls/ring, no OpenSSL); no shell, no
# package manager.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /cmek-gate /cmek-gate
# 65532 = distroless "nonroot"; the chart's podSecurityContext uses the same IDs.
USER 65532:65532
# 8443: HTTPS (/validate, /v1/check, /healthz, /readyz); 9090: plain HTTP (/metrics).
EXPOSE 8443 9090
ENTRYPOINT ["/cmek-gate"]
CMD ["serve"]
