//! Security: TLS on every port, mutual TLS between nodes, and who a caller is.
//!
//! - [`certs`]: the deployment's CA and the certificates it signs for nodes and clients (rcgen).
//! - [`guard`]: with TLS on, the internal services answer only nodes presenting their certificate.
//! - [`identity`]: the [`identity::Peer`] a TLS peer's certificate names (node or client).
//! - [`tls`]: a node's and a client's TLS settings, loaded from PEM files and checked at start.
//!
//! It sits low in the layers (it knows nothing of raft, DR or the API) so that the raft network,
//! the API and the client library all take their TLS from one place.

pub mod certs;
pub mod guard;
pub mod identity;
pub mod tls;
