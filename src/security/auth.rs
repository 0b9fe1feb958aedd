//! The server-side check: a tower layer over every gRPC service of a node.
//!
//! Why a layer and not a tonic interceptor per service: one layer wraps the whole router, so a
//! service added later is covered without anyone remembering to, and it sees the request path
//! (`/twinstore.v1.TwinService/PutTwin`), which is what the role table ([`super::roles`]) is keyed
//! by. It runs inside the RPC metrics layer, so refused calls are counted like any other.
//!
//! For each call, with auth configured:
//!
//! 1. look the method up: not in the table → `PermissionDenied` (default deny); open → through;
//! 2. find the caller: a node or client certificate ([`certificate_principal`], the hook mutual
//!    TLS fills in), else the `authorization: Bearer <token>` header, checked by
//!    [`Verifier`](super::token::Verifier). Missing, garbled, expired or wrongly signed →
//!    `Unauthenticated`;
//! 3. internal methods take a node only → `PermissionDenied` for anyone else, token or not;
//!    other methods take a role at least as high as the table's → `PermissionDenied` naming the
//!    role needed and the method;
//! 4. the [`Principal`] goes into the request's extensions, for handlers and the audit trail.
//!
//! The answer's message starts with the error code (`Unauthenticated: ...`,
//! `PermissionDenied: ...`) and the code is in `x-ms-error-code`, as for every other error of the
//! API. A refused call returns before the service is called, so it cannot change anything.
//!
//! Without auth configured, calls carry no principal. The same layer ([`AuthLayer`]) applies the
//! TLS guard of the internal methods ([`super::guard`]) first, so a node has one checking layer
//! and a call's certificate is parsed at most once.

use super::identity::{self, Peer};
use super::roles::{self, Need, Role};
use super::token::{self, Verifier};
use crate::error::{ERROR_CODE_HEADER, ErrorCode};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tonic::codegen::Service;
use tonic::codegen::http::{Request, Response};
use tonic::{Code, Status};

/// The default issuer and audience, of nodes and of `twinstore token issue` alike.
pub const DEFAULT_ISSUER: &str = "twinstore";
/// See [`DEFAULT_ISSUER`].
pub const DEFAULT_AUDIENCE: &str = "twinstore";

/// How a node authenticates clients.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthConfig {
    /// The public keys (SPKI PEM files) a token may be signed with: any of them (rotation).
    pub keys: Vec<PathBuf>,
    /// The issuer tokens must name.
    pub issuer: String,
    /// The audience tokens must name.
    pub audience: String,
}

impl AuthConfig {
    /// Tokens signed by any of `keys`, with the default issuer and audience.
    pub fn new(keys: Vec<PathBuf>) -> Self {
        AuthConfig { keys, issuer: DEFAULT_ISSUER.into(), audience: DEFAULT_AUDIENCE.into() }
    }

    /// Reads the keys: the verifier a node checks tokens with.
    pub fn verifier(&self) -> Result<Verifier, String> {
        Verifier::load(&self.keys, &self.issuer, &self.audience)
    }
}

/// How a caller was identified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Via {
    /// A bearer token.
    Token,
    /// A client certificate (mutual TLS).
    ClientCertificate,
    /// Another node of the deployment, by its node certificate.
    Node {
        /// Its region.
        region: String,
        /// Its id in that region.
        id: u64,
    },
}

/// Who is calling, as the auth layer established it; in the request's extensions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The token's subject or the certificate's name.
    pub subject: String,
    /// What it may do.
    pub role: Role,
    /// How it was identified.
    pub via: Via,
}

impl Principal {
    /// Whether this principal may call a method that needs `need`: nodes may call anything;
    /// others never internal methods, and role methods with a high enough role.
    pub fn may(&self, need: Need) -> bool {
        match (need, &self.via) {
            (_, Via::Node { .. }) | (Need::Open, _) => true,
            (Need::Internal, _) => false,
            (Need::Role(r), _) => self.role >= r,
        }
    }
}

/// The principal a peer's certificate identifies, if any (TLS has checked it chains to the
/// deployment's CA; [`super::identity`] read its name): a node certificate is [`Via::Node`] (a
/// node may call anything), a client certificate [`Via::ClientCertificate`] with the role it
/// names. A client certificate naming no role this node knows identifies nobody, and the call
/// needs a token instead.
pub fn certificate_principal(peer: Option<&Peer>) -> Option<Principal> {
    match peer? {
        Peer::Node { region, id } => Some(Principal {
            subject: peer?.to_string(),
            role: Role::Admin,
            via: Via::Node { region: region.clone(), id: *id },
        }),
        Peer::Client { role, name } => Some(Principal {
            subject: name.clone(),
            role: Role::parse(role)?,
            via: Via::ClientCertificate,
        }),
    }
}

/// A refusal as a gRPC status: the code first in the message and in `x-ms-error-code`.
pub fn refusal(code: ErrorCode, message: impl std::fmt::Display) -> Status {
    let grpc = match code {
        ErrorCode::Unauthenticated => Code::Unauthenticated,
        _ => Code::PermissionDenied,
    };
    let mut status = Status::new(grpc, format!("{}: {message}", code.as_str()));
    if let Ok(v) = code.as_str().parse() {
        status.metadata_mut().insert(ERROR_CODE_HEADER, v);
    }
    status
}

/// Decides one call: the principal to attach (`None` for open methods), or the refusal.
pub fn check(
    verifier: &Verifier,
    path: &str,
    authorization: Option<&[u8]>,
    peer: Option<&Peer>,
    now: u64,
) -> Result<Option<Principal>, Status> {
    let Some(need) = roles::need(path) else {
        return Err(refusal(
            ErrorCode::PermissionDenied,
            format!("{path} is not a method this node knows a rule for (refused by default)"),
        ));
    };
    if need == Need::Open {
        return Ok(None);
    }
    let principal = match certificate_principal(peer) {
        Some(p) => p,
        None => {
            if need == Need::Internal {
                return Err(refusal(
                    ErrorCode::PermissionDenied,
                    format!("{path} is an internal service, node certificate required"),
                ));
            }
            let token = bearer(authorization)?;
            let claims =
                verifier.verify(token, now).map_err(|e| refusal(ErrorCode::Unauthenticated, e))?;
            Principal { subject: claims.sub, role: claims.role, via: Via::Token }
        }
    };
    if !principal.may(need) {
        let why = match need {
            Need::Role(r) => format!("role {r} needed for {path}"),
            _ => format!("{path} is an internal service, node certificate required"),
        };
        return Err(refusal(
            ErrorCode::PermissionDenied,
            format!("{why}; '{}' has role {}", principal.subject, principal.role),
        ));
    }
    Ok(Some(principal))
}

/// The token of an `authorization: Bearer <token>` header.
fn bearer(header: Option<&[u8]>) -> Result<&str, Status> {
    let Some(value) = header else {
        return Err(refusal(
            ErrorCode::Unauthenticated,
            "no credential: send a bearer token (authorization: Bearer <token>)",
        ));
    };
    let text = std::str::from_utf8(value).unwrap_or_default().trim();
    match text.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim())
        }
        _ => Err(refusal(
            ErrorCode::Unauthenticated,
            "the authorization header is not 'Bearer <token>'",
        )),
    }
}

/// The layer in front of all of a node's services: with TLS on, the guard of the internal
/// methods ([`guard`](super::guard)); with auth on, the credential and role check above. One layer,
/// so a call's peer certificate is read once, and only for a call whose answer depends on it.
#[derive(Clone)]
pub struct AuthLayer {
    region: Arc<str>,
    tls: bool,
    verifier: Option<Arc<Verifier>>,
}

impl AuthLayer {
    /// The checks of a node of `region`: the internal-method guard when it serves `tls`, client
    /// authentication when it has a `verifier`. With neither, calls pass untouched.
    pub fn new(region: &str, tls: bool, verifier: Option<Arc<Verifier>>) -> Self {
        AuthLayer { region: region.into(), tls, verifier }
    }
}

impl<S> tower_layer::Layer<S> for AuthLayer {
    type Service = Auth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Auth { inner, layer: self.clone() }
    }
}

/// The service the layer makes.
#[derive(Clone)]
pub struct Auth<S> {
    inner: S,
    layer: AuthLayer,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S> Auth<S> {
    /// The principal to attach and the peer, or the refusal.
    fn decide<B>(&self, req: &Request<B>) -> Result<(Option<Principal>, Option<Peer>), Status> {
        let AuthLayer { region, tls, verifier } = &self.layer;
        let path = req.uri().path();
        let need = roles::need(path);
        // The peer's certificate is parsed only when a check reads it: an internal method over
        // TLS (the guard, and raft's sender check in its handler), or a non-open method with
        // authentication on (a certificate may be the credential).
        let internal = *tls && need == Some(Need::Internal);
        let authenticated = verifier.is_some() && need != Some(Need::Open);
        let peer = if internal || authenticated { identity::of_request(req) } else { None };
        if internal && let Some(why) = super::guard::refusal_for(path, peer.as_ref(), region) {
            return Err(refusal(ErrorCode::PermissionDenied, why));
        }
        let principal = match verifier {
            Some(v) => {
                let authorization = req.headers().get("authorization").map(|v| v.as_bytes());
                check(v, path, authorization, peer.as_ref(), token::now_secs())?
            }
            None => None,
        };
        Ok((principal, peer))
    }
}

impl<S, B, R> Service<Request<B>> for Auth<S>
where
    S: Service<Request<B>, Response = Response<R>>,
    S::Future: Send + 'static,
    S::Error: 'static,
    R: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        if !self.layer.tls && self.layer.verifier.is_none() {
            return Box::pin(self.inner.call(req));
        }
        match self.decide(&req) {
            Ok((principal, peer)) => {
                if let Some(p) = principal {
                    req.extensions_mut().insert(p);
                }
                if let Some(peer) = peer {
                    req.extensions_mut().insert(peer);
                }
                Box::pin(self.inner.call(req))
            }
            Err(status) => {
                let response = status.into_http::<R>();
                Box::pin(async move { Ok(response) })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::token::{KeyPair, Signer, TokenSpec};
    use std::time::Duration;

    const NOW: u64 = 1_800_000_000;

    fn setup() -> (Verifier, Signer) {
        let p = KeyPair::generate().unwrap();
        let v = Verifier::new(&[&p.public_pem], DEFAULT_ISSUER, DEFAULT_AUDIENCE).unwrap();
        (v, Signer::from_pem(&p.private_pem).unwrap())
    }

    fn header(signer: &Signer, role: Role) -> Vec<u8> {
        let spec = TokenSpec {
            subject: "bob".into(),
            role,
            issuer: DEFAULT_ISSUER.into(),
            audience: DEFAULT_AUDIENCE.into(),
            ttl: Duration::from_secs(600),
        };
        format!("Bearer {}", signer.issue(&spec, NOW).unwrap()).into_bytes()
    }

    fn code(r: Result<Option<Principal>, Status>) -> (Code, String) {
        let s = r.unwrap_err();
        (s.code(), s.metadata().get(ERROR_CODE_HEADER).unwrap().to_str().unwrap().to_string())
    }

    const GET: &str = "/twinstore.v1.TwinService/GetTwin";
    const PUT: &str = "/twinstore.v1.TwinService/PutTwin";
    const FAILOVER: &str = "/twinstore.v1.DrService/Failover";
    const VOTE: &str = "/twinstore.v1.RaftService/Vote";

    #[test]
    fn roles_open_exactly_their_methods() {
        let (v, s) = setup();
        let reader = header(&s, Role::DataReader);
        let p = check(&v, GET, Some(&reader), None, NOW).unwrap().unwrap();
        assert_eq!((p.subject.as_str(), p.role, p.via), ("bob", Role::DataReader, Via::Token));
        let denied = check(&v, PUT, Some(&reader), None, NOW).unwrap_err();
        assert_eq!(denied.code(), Code::PermissionDenied);
        assert!(
            denied.message().starts_with("PermissionDenied: role DataOwner needed for ")
                && denied.message().contains("PutTwin"),
            "{}",
            denied.message()
        );
        let owner = header(&s, Role::DataOwner);
        assert!(check(&v, PUT, Some(&owner), None, NOW).is_ok());
        assert_eq!(
            code(check(&v, FAILOVER, Some(&owner), None, NOW)),
            (Code::PermissionDenied, "PermissionDenied".into())
        );
        let admin = header(&s, Role::Admin);
        assert!(check(&v, FAILOVER, Some(&admin), None, NOW).is_ok());
        // Not even an admin's token opens an internal method.
        let s = check(&v, VOTE, Some(&admin), None, NOW).unwrap_err();
        assert_eq!(s.code(), Code::PermissionDenied);
        assert!(s.message().contains("internal service, node certificate required"));
    }

    #[test]
    fn missing_or_bad_credentials_are_unauthenticated() {
        let (v, s) = setup();
        let unauth = (Code::Unauthenticated, "Unauthenticated".to_string());
        assert_eq!(code(check(&v, GET, None, None, NOW)), unauth);
        assert_eq!(code(check(&v, GET, Some(b"Bearer"), None, NOW)), unauth);
        assert_eq!(code(check(&v, GET, Some(b"Basic dXNlcjpwdw=="), None, NOW)), unauth);
        assert_eq!(code(check(&v, GET, Some(b"Bearer x.y.z"), None, NOW)), unauth);
        let admin = header(&s, Role::Admin);
        let late = check(&v, GET, Some(&admin), None, NOW + 3600).unwrap_err();
        assert_eq!(late.code(), Code::Unauthenticated);
        assert!(late.message().contains("expired at"), "{}", late.message());
    }

    #[test]
    fn open_and_unknown_methods() {
        let (v, _) = setup();
        assert_eq!(check(&v, "/grpc.health.v1.Health/Check", None, None, NOW).unwrap(), None);
        let s = check(&v, "/twinstore.v1.TwinService/Nope", None, None, NOW).unwrap_err();
        assert_eq!(s.code(), Code::PermissionDenied);
        assert!(s.message().contains("refused by default"));
    }

    #[test]
    fn nodes_may_call_anything_and_tokens_never_internal() {
        let node = Principal {
            subject: "node 2".into(),
            role: Role::DataReader,
            via: Via::Node { region: "primary".into(), id: 2 },
        };
        assert!(node.may(Need::Internal) && node.may(Need::Role(Role::Admin)));
        let admin = Principal { subject: "a".into(), role: Role::Admin, via: Via::Token };
        assert!(!admin.may(Need::Internal) && admin.may(Need::Role(Role::Admin)));
        assert_eq!(certificate_principal(None), None);
    }

    #[test]
    fn certificates_make_principals() {
        let node = Peer::Node { region: "primary".into(), id: 2 };
        let p = certificate_principal(Some(&node)).unwrap();
        assert_eq!(p.via, Via::Node { region: "primary".into(), id: 2 });
        assert!(p.may(Need::Internal));
        let reader = Peer::Client { role: "DataReader".into(), name: "bi".into() };
        let p = certificate_principal(Some(&reader)).unwrap();
        assert_eq!(
            (p.subject.as_str(), p.role, p.via.clone()),
            ("bi", Role::DataReader, Via::ClientCertificate)
        );
        assert!(!p.may(Need::Role(Role::DataOwner)) && !p.may(Need::Internal));
        let unknown = Peer::Client { role: "Root".into(), name: "x".into() };
        assert_eq!(certificate_principal(Some(&unknown)), None);
    }
}
