//! The generated protobuf and gRPC code of the `twinstore.v1` API, and its encoded descriptor set
//! (served by gRPC reflection so generic tools such as grpcurl can call the API).

#![allow(missing_docs, clippy::all)]

tonic::include_proto!("twinstore.v1");

/// The encoded `FileDescriptorSet` of every `.proto` file, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/twinstore_descriptor.bin"));
