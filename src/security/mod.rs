//! Security: TLS on every port, mutual TLS between nodes, and who may call what.
//!
//! - [`certs`]: the deployment's CA and the certificates it signs for nodes and clients (rcgen);
//!   [`files`] writes them, and token keys, never over an existing file.
//! - [`identity`]: the [`identity::Peer`] a TLS peer's certificate names (node or client).
//! - [`tls`]: a node's and a client's TLS settings, loaded from PEM files and checked at start.
//! - [`guard`]: with TLS on, the internal services answer only nodes presenting their certificate
//!   (raft only a node of the same region), whether or not client authentication is on.
//! - [`token`]: Ed25519-signed JWT bearer tokens; [`roles`]: which role each method needs.
//! - [`auth`]: with client authentication on ([`AuthConfig`]), a tower layer over all of a node's
//!   services finds who is calling (a [`Principal`]: a node or client certificate, else a bearer
//!   token) and lets the call through with the principal in the request's extensions, or refuses
//!   it with `Unauthenticated` (no usable credential) or `PermissionDenied` (the role is not
//!   enough). A refused call never reaches a service, so it changes nothing.
//!
//! Why this sits low in the layers (it needs nothing above `error` and `pb`): the raft network,
//! the server and the client library all take their TLS from one place, and the checks are about
//! credentials and method names only, not twins or raft; the server applies them, and handlers
//! (and the audit trail) read the principal they leave behind.
//!
//! What is not covered: the optional HTTP port (`/metrics` and the status page) is served over
//! TLS but not authenticated; it serves no data of the graph.

pub mod auth;
pub mod certs;
pub mod files;
pub mod guard;
pub mod identity;
pub mod roles;
pub mod tls;
pub mod token;

pub use auth::{AuthConfig, AuthLayer, Principal, Via};
pub use roles::{Need, Role};
pub use token::{Claims, KeyPair, Signer, TokenError, TokenSpec, Verifier};
