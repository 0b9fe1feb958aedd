//! Who may call what: client authentication and roles.
//!
//! A node with `auth` configured ([`AuthConfig`]) checks every gRPC call before any service sees
//! it ([`auth`], a tower layer over all of a node's services): it finds who is calling (a
//! [`Principal`]) from a bearer token ([`token`]: Ed25519-signed JWTs) or, later, a client
//! certificate, looks the method up in the table of which role each method needs ([`roles`]), and
//! either lets the call through with the principal in the request's extensions or refuses it with
//! `Unauthenticated` (no usable credential) or `PermissionDenied` (the credential is fine, the role
//! is not). A refused call never reaches a service, so it changes nothing.
//!
//! Why this sits below `api` and `server`: the check is about credentials and method names only,
//! not about twins or raft, so it needs nothing above `error` and `pb`; the server applies it, and
//! handlers (and an audit trail) read the principal it leaves behind.
//!
//! What is not covered: the optional HTTP port (`/metrics` and the status page) serves no data
//! of the graph and is not authenticated; keep it on an address only operators reach.
//!
//! Without `auth` (the default for this step) nothing is checked: every call is let through, as
//! before. Auth on a multi-node region needs the nodes to authenticate each other (mutual TLS,
//! added beside this module), because raft, forwarding and DR calls between nodes carry no token:
//! until then `NodeConfig::validate` refuses `auth` together with peers, join or a DR pair.

pub mod auth;
pub mod roles;
pub mod token;

pub use auth::{AuthConfig, AuthLayer, PeerCertificate, Principal, Via};
pub use roles::{Need, Role};
pub use token::{Claims, KeyPair, Signer, TokenError, TokenSpec, Verifier};
