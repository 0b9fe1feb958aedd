//! Request-size limits on every port, over real sockets (`twinstore::api::limits` states them).
//!
//! One in-process node with its HTTP port. Each test sends a request just over a limit and checks
//! three things: the answer is the stated one (gRPC `RESOURCE_EXHAUSTED` + `LimitExceeded`, an
//! HTTP/2 refusal, HTTP 431), the stored graph is byte-for-byte what it was (`Store::fingerprint`),
//! and the node goes on serving ordinary requests on the same port.

mod common;

use common::connect;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::transport::Channel;
use twinstore::api::limits::{
    MAX_HEADER_LIST_BYTES, MAX_HTTP_HEAD_BYTES, MAX_MODEL_UPLOAD_BYTES, MAX_REQUEST_BYTES,
};
use twinstore::pb;
use twinstore::pb::model_service_client::ModelServiceClient;
use twinstore::pb::twin_service_client::TwinServiceClient;
use twinstore::server::{Node, NodeConfig};

const MODEL: &str = r#"[{"@id": "dtmi:lim:Room;1", "@type": "Interface",
  "@context": "dtmi:dtdl:context;3",
  "contents": [{"@type": "Property", "name": "note", "schema": "string"}]}]"#;

struct Fixture {
    node: Node,
    twins: TwinServiceClient<Channel>,
    models: ModelServiceClient<Channel>,
}

async fn start(dir: &std::path::Path) -> Fixture {
    let mut config = NodeConfig::new(dir, "127.0.0.1:0".parse().unwrap());
    config.http = Some("127.0.0.1:0".parse().unwrap());
    let node = Node::start(config).await.unwrap();
    let channel = connect(node.addr(), Duration::from_secs(30)).await;
    let mut f = Fixture {
        node,
        twins: TwinServiceClient::new(channel.clone()),
        models: ModelServiceClient::new(channel),
    };
    f.models
        .add_models(pb::AddModelsRequest { models_json: MODEL.into(), options: None })
        .await
        .unwrap();
    f.put("room-1", "first").await.unwrap();
    f
}

fn room(note: &str) -> String {
    serde_json::json!({"$metadata": {"$model": "dtmi:lim:Room;1"}, "note": note}).to_string()
}

fn adt_code(s: &tonic::Status) -> &str {
    s.metadata().get("x-ms-error-code").and_then(|v| v.to_str().ok()).unwrap_or("")
}

impl Fixture {
    async fn put(&mut self, id: &str, note: &str) -> Result<(), tonic::Status> {
        self.put_raw(id, room(note)).await
    }

    async fn put_raw(&mut self, id: &str, twin_json: String) -> Result<(), tonic::Status> {
        let req = pb::PutTwinRequest { id: id.into(), twin_json, options: None };
        self.twins.put_twin(req).await.map(|_| ())
    }

    fn fingerprint(&self) -> u64 {
        self.node.store().fingerprint().unwrap()
    }
}

#[tokio::test]
async fn a_twin_put_over_the_message_limit_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut f = start(dir.path()).await;

    // Under the message limit but over ADT's twin size: the content limit answers, as ADT does
    // (in apply, so this refusal is in the log and the dedupe table: the fingerprint is taken
    // after it).
    let e = f.put("room-big", &"x".repeat(40 << 10)).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
    assert_eq!(adt_code(&e), "LimitExceeded", "{e:?}");
    let before = f.fingerprint();

    // Just over 4 MiB on the wire: the JSON alone is the limit, the id and framing add the rest.
    let over = room(&"x".repeat(MAX_REQUEST_BYTES));
    let e = f.put_raw("room-big", over).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::ResourceExhausted, "{e:?}");
    assert_eq!(adt_code(&e), "LimitExceeded", "{e:?}");
    assert!(e.message().starts_with("LimitExceeded: "), "{}", e.message());
    assert!(e.message().contains(&format!("the limit is {MAX_REQUEST_BYTES} bytes")), "{e:?}");
    assert!(e.message().contains("TwinService/PutTwin"), "{e:?}");

    assert_eq!(f.fingerprint(), before, "a refused request changed the graph");
    let get = pb::GetTwinRequest { id: "room-big".into(), options: None };
    assert_eq!(f.twins.get_twin(get).await.unwrap_err().code(), tonic::Code::NotFound);

    // The same connection still serves an ordinary write.
    f.put("room-2", "after").await.unwrap();
    assert_ne!(f.fingerprint(), before);
    f.node.shutdown().await;
}

#[tokio::test]
async fn model_uploads_have_their_own_larger_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mut f = start(dir.path()).await;

    // Over 4 MiB but under the model limit: decoded and judged on its content (JSON whitespace
    // around an Interface that already exists).
    let padded = format!("{}{MODEL}", " ".repeat(MAX_REQUEST_BYTES + 1024));
    let e = f
        .models
        .add_models(pb::AddModelsRequest { models_json: padded, options: None })
        .await
        .unwrap_err();
    assert_eq!(adt_code(&e), "ModelAlreadyExists", "{e:?}");
    let before = f.fingerprint();

    let over = " ".repeat(MAX_MODEL_UPLOAD_BYTES + 1);
    let e = f
        .models
        .add_models(pb::AddModelsRequest { models_json: over, options: None })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::ResourceExhausted, "{e:?}");
    assert_eq!(adt_code(&e), "LimitExceeded", "{e:?}");
    assert!(e.message().contains(&format!("the limit is {MAX_MODEL_UPLOAD_BYTES} bytes")), "{e:?}");

    assert_eq!(f.fingerprint(), before);
    f.put("room-2", "after").await.unwrap();
    f.node.shutdown().await;
}

#[tokio::test]
async fn a_header_list_over_the_limit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut f = start(dir.path()).await;
    let before = f.fingerprint();

    let get = |pad: usize| {
        let mut req =
            tonic::Request::new(pb::GetTwinRequest { id: "nobody".into(), options: None });
        req.metadata_mut().insert("x-pad", "p".repeat(pad).parse().unwrap());
        req
    };
    // Well under the limit, the call reaches the service (which has no such twin).
    let small = f.twins.get_twin(get(MAX_HEADER_LIST_BYTES as usize / 2)).await.unwrap_err();
    assert_eq!(small.code(), tonic::Code::NotFound, "{small:?}");
    // Over it, HTTP/2 refuses the stream before any service runs.
    let big = f.twins.get_twin(get(MAX_HEADER_LIST_BYTES as usize + 1)).await.unwrap_err();
    assert_ne!(big.code(), tonic::Code::NotFound, "an oversized header list reached the service");
    // HTTP/2 answers 431 (Request Header Fields Too Large); tonic reports that as Unknown.
    assert!(big.message().contains("431"), "{big:?}");

    assert_eq!(f.fingerprint(), before);
    // Still serving: a fresh connection, and a write.
    let channel = Channel::from_shared(format!("http://{}", f.node.addr())).unwrap();
    let mut fresh = TwinServiceClient::new(channel.connect().await.unwrap());
    let req = pb::PutTwinRequest { id: "room-2".into(), twin_json: room("after"), options: None };
    fresh.put_twin(req).await.unwrap();
    f.node.shutdown().await;
}

/// Sends `request` to the HTTP port and reads the whole answer (the server closes the connection).
async fn http(addr: std::net::SocketAddr, request: &[u8]) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("the HTTP port answered within 10 s")
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn the_http_port_refuses_an_oversized_head() {
    let dir = tempfile::tempdir().unwrap();
    let f = start(dir.path()).await;
    let addr = f.node.http_addr().unwrap();
    let before = f.fingerprint();

    let mut big = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: ".to_vec();
    big.extend(std::iter::repeat_n(b'p', MAX_HTTP_HEAD_BYTES + 1));
    big.extend_from_slice(b"\r\n\r\n");
    let answer = http(addr, &big).await;
    assert!(answer.starts_with("HTTP/1.1 431 "), "{answer:?}");

    // Just under the limit is an ordinary request.
    let mut fits = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: ".to_vec();
    fits.extend(std::iter::repeat_n(b'p', MAX_HTTP_HEAD_BYTES - 100));
    fits.extend_from_slice(b"\r\n\r\n");
    let answer = http(addr, &fits).await;
    assert!(answer.starts_with("HTTP/1.1 200 "), "{}", &answer[..answer.len().min(200)]);
    assert!(answer.contains("twinstore_"), "the metrics page");

    assert_eq!(f.fingerprint(), before);
    f.node.shutdown().await;
}
