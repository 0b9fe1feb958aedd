//! The client side of a subset of etcd's v3 KV API (`etcd-proto/`), which `twinstore bench
//! --target etcd` calls to load a real etcd member with the same generator as twinstore. Compiled
//! without a system `protoc` (`protox`), like the product's own API.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=etcd-proto");
    let etcd = protox::compile(["etcdserverpb/rpc.proto"], ["etcd-proto"])?;
    tonic_prost_build::configure().build_server(false).compile_fds(etcd)?;
    Ok(())
}
