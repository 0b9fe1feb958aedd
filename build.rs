//! Compiles the protobuf API without a system `protoc`: `protox` parses the `.proto` files into a
//! descriptor set in pure Rust, `tonic-prost-build` generates the messages and services from it,
//! and the encoded descriptor set is kept in `OUT_DIR` for gRPC reflection.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/twinstore/v1/roles.proto",
        "proto/twinstore/v1/twins.proto",
        "proto/twinstore/v1/query.proto",
        "proto/twinstore/v1/raft.proto",
        "proto/twinstore/v1/cluster.proto",
        "proto/twinstore/v1/dr.proto",
        "proto/twinstore/v1/health.proto",
        "proto/twinstore/v1/audit.proto",
    ];
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(files, ["proto"])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    let bytes = prost::Message::encode_to_vec(&fds);
    std::fs::write(out.join("twinstore_descriptor.bin"), bytes)?;
    tonic_prost_build::configure().compile_fds(fds)?;

    Ok(())
}
