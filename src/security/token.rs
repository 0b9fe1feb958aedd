//! Bearer tokens: Ed25519-signed JWTs.
//!
//! A token is a JWT (`jsonwebtoken`, on its pure-Rust `rust_crypto` backend: no OpenSSL, no C
//! toolchain) signed with EdDSA over Ed25519. Its claims are the standard `iss` (who issued it),
//! `aud` (which deployment it is for), `sub` (who holds it), `iat`, `nbf` and `exp` (seconds since
//! the Unix epoch), plus `role`, one of [`Role`].
//!
//! Why Ed25519 key pairs and not a shared secret: nodes only need the *public* key to verify, so a
//! node's disk holds nothing that can mint tokens; the private key stays with whoever issues them
//! (`twinstore token issue`). Keys are PEM files (PKCS#8 for the private key, SPKI for the public
//! one), what `openssl genpkey -algorithm ed25519` also writes.
//!
//! **Rotation**: a node is configured with one or more public keys, and a token that verifies
//! under any of them is accepted. To rotate: make a new pair, give every node both public keys,
//! issue new tokens with the new private key, and once the old tokens have expired, remove the
//! old public key. Each token's header carries a key id (`kid`: the first 8 bytes of the public
//! key, in hex), so a node tries the one key that can match, and a token whose key was removed is
//! refused naming that key.
//!
//! **Validation**: the signature first (nothing in an unverified token is believed), then the
//! issuer and the audience must be exactly the node's, and the time must be inside
//! `[nbf, exp)` with [`LEEWAY`] of slack either way, for clocks a little apart between the issuer
//! and the nodes. Errors say what was wrong (expired at when, signed by which key, which
//! audience), never the token itself.

use super::roles::Role;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{SigningKey, VerifyingKey};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How far apart the issuer's and a node's clocks may be: `exp` and `nbf` are given this much
/// slack (30 s: NTP keeps clocks far closer; more would let an expired token live on noticeably).
pub const LEEWAY: Duration = Duration::from_secs(30);

/// The claims of a twinstore token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Who issued the token; must equal the node's configured issuer.
    pub iss: String,
    /// Which deployment the token is for; must equal the node's configured audience.
    pub aud: String,
    /// Who holds the token (a user or a program), as recorded by the node.
    pub sub: String,
    /// What the holder may do.
    pub role: Role,
    /// When it was issued (seconds since the Unix epoch).
    pub iat: u64,
    /// Not valid before (seconds since the Unix epoch).
    pub nbf: u64,
    /// Not valid from (seconds since the Unix epoch).
    pub exp: u64,
}

/// Why a token was not accepted. Every one is an `Unauthenticated` answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenError {
    /// Not a JWT at all, or one this node does not understand (another algorithm, bad claims).
    Malformed(String),
    /// The header names a key id this node has no key for.
    UnknownKey(String),
    /// No configured key verifies the signature.
    BadSignature,
    /// Issued by someone else.
    WrongIssuer {
        /// The token's issuer.
        got: String,
        /// The node's.
        want: String,
    },
    /// Meant for another deployment.
    WrongAudience {
        /// The token's audience.
        got: String,
        /// The node's.
        want: String,
    },
    /// Not valid yet (`nbf`, seconds since the epoch).
    NotYetValid(u64),
    /// Expired (`exp`, seconds since the epoch).
    Expired(u64),
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenError::Malformed(why) => write!(f, "the bearer token is malformed: {why}"),
            TokenError::UnknownKey(kid) => write!(
                f,
                "the bearer token was signed by key {kid}, which this node does not accept (was \
                 the key rotated out?)"
            ),
            TokenError::BadSignature => {
                f.write_str("the bearer token's signature does not verify under any accepted key")
            }
            TokenError::WrongIssuer { got, want } => {
                write!(f, "the bearer token was issued by '{got}', not '{want}'")
            }
            TokenError::WrongAudience { got, want } => {
                write!(f, "the bearer token is for audience '{got}', not '{want}'")
            }
            TokenError::NotYetValid(at) => {
                write!(f, "the bearer token is not valid before {}", rfc3339(*at))
            }
            TokenError::Expired(at) => write!(f, "the bearer token expired at {}", rfc3339(*at)),
        }
    }
}

impl std::error::Error for TokenError {}

fn rfc3339(secs: u64) -> String {
    chrono::DateTime::from_timestamp(secs as i64, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| format!("{secs} s after the epoch"))
}

/// Seconds since the Unix epoch, now.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The key id of a public key: its first 8 bytes in hex. Public keys look random, so a prefix
/// names one well enough; it only picks which key to try, the signature is still checked.
pub fn key_id(key: &VerifyingKey) -> String {
    key.to_bytes()[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// A new key pair as PEM text.
pub struct KeyPair {
    /// The private signing key (PKCS#8 PEM): keep it secret, with the token issuer only.
    pub private_pem: String,
    /// The public verification key (SPKI PEM): give it to every node.
    pub public_pem: String,
    /// The key id tokens signed with it carry.
    pub kid: String,
}

/// The file names `KeyPair::write` uses.
pub const PRIVATE_FILE: &str = "token-signing.pem";
/// See [`PRIVATE_FILE`].
pub const PUBLIC_FILE: &str = "token-verify.pem";

impl KeyPair {
    /// A fresh Ed25519 key pair from the operating system's random source.
    pub fn generate() -> Result<KeyPair, String> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|e| format!("no randomness for a key: {e}"))?;
        let signing = SigningKey::from_bytes(&secret);
        let line = ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF;
        let private_pem = signing.to_pkcs8_pem(line).map_err(|e| e.to_string())?.to_string();
        let public_pem =
            signing.verifying_key().to_public_key_pem(line).map_err(|e| e.to_string())?;
        Ok(KeyPair { private_pem, public_pem, kid: key_id(&signing.verifying_key()) })
    }

    /// Writes the pair into `dir` (created if missing) as [`PRIVATE_FILE`] (readable by its owner
    /// only) and [`PUBLIC_FILE`]; refuses to overwrite either. Returns both paths.
    pub fn write(&self, dir: &Path) -> Result<(PathBuf, PathBuf), String> {
        super::files::write_pair(
            dir,
            (PRIVATE_FILE, &self.private_pem),
            (PUBLIC_FILE, &self.public_pem),
        )
    }
}

/// What a new token says.
#[derive(Clone, Debug)]
pub struct TokenSpec {
    /// Who will hold it.
    pub subject: String,
    /// What the holder may do.
    pub role: Role,
    /// The issuer the nodes expect.
    pub issuer: String,
    /// The audience the nodes expect.
    pub audience: String,
    /// How long it is valid from now.
    pub ttl: Duration,
}

/// Issues tokens with a private key.
pub struct Signer {
    key: EncodingKey,
    kid: String,
}

impl Signer {
    /// A signer from a PKCS#8 PEM private key.
    pub fn from_pem(pem: &str) -> Result<Signer, String> {
        let signing = SigningKey::from_pkcs8_pem(pem)
            .map_err(|e| format!("not an Ed25519 private key in PKCS#8 PEM: {e}"))?;
        let der = signing.to_pkcs8_der().map_err(|e| e.to_string())?;
        Ok(Signer {
            key: EncodingKey::from_ed_der(der.as_bytes()),
            kid: key_id(&signing.verifying_key()),
        })
    }

    /// A signer from a private key file.
    pub fn load(path: &Path) -> Result<Signer, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the key {}: {e}", path.display()))?;
        Self::from_pem(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The id of this signer's key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// A token for `spec`, valid from `now` (seconds since the epoch) for `spec.ttl`.
    pub fn issue(&self, spec: &TokenSpec, now: u64) -> Result<String, String> {
        let claims = Claims {
            iss: spec.issuer.clone(),
            aud: spec.audience.clone(),
            sub: spec.subject.clone(),
            role: spec.role,
            iat: now,
            nbf: now,
            exp: now.saturating_add(spec.ttl.as_secs()),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.key).map_err(|e| e.to_string())
    }
}

struct AcceptedKey {
    kid: String,
    key: DecodingKey,
}

/// Checks tokens against the accepted public keys, issuer and audience of a node.
pub struct Verifier {
    keys: Vec<AcceptedKey>,
    issuer: String,
    audience: String,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("keys", &self.keys.iter().map(|k| &k.kid).collect::<Vec<_>>())
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

impl Verifier {
    /// A verifier of tokens signed by any of `public_pems` (SPKI PEM text) for `issuer` and
    /// `audience`.
    pub fn new(public_pems: &[&str], issuer: &str, audience: &str) -> Result<Verifier, String> {
        if public_pems.is_empty() {
            return Err("no public key to verify tokens with".into());
        }
        if issuer.trim().is_empty() || audience.trim().is_empty() {
            return Err("the token issuer and audience must not be empty".into());
        }
        let mut keys = Vec::new();
        for pem in public_pems {
            let public = VerifyingKey::from_public_key_pem(pem)
                .map_err(|e| format!("not an Ed25519 public key in SPKI PEM: {e}"))?;
            keys.push(AcceptedKey {
                kid: key_id(&public),
                key: DecodingKey::from_ed_der(&public.to_bytes()),
            });
        }
        Ok(Verifier { keys, issuer: issuer.into(), audience: audience.into() })
    }

    /// A verifier from public key files.
    pub fn load(paths: &[PathBuf], issuer: &str, audience: &str) -> Result<Verifier, String> {
        let mut texts = Vec::new();
        for path in paths {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read the token key {}: {e}", path.display()))?;
            Verifier::new(&[&text], issuer, audience)
                .map_err(|e| format!("token key {}: {e}", path.display()))?;
            texts.push(text);
        }
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        Verifier::new(&refs, issuer, audience)
    }

    /// The ids of the accepted keys.
    pub fn key_ids(&self) -> Vec<String> {
        self.keys.iter().map(|k| k.kid.clone()).collect()
    }

    /// The token's claims when it is valid at `now` (seconds since the epoch); otherwise why not.
    pub fn verify(&self, token: &str, now: u64) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| TokenError::Malformed(format!("not a JWT ({e})")))?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Malformed(format!(
                "signed with {:?}; this node accepts EdDSA only",
                header.alg
            )));
        }
        let candidates: Vec<&AcceptedKey> = match &header.kid {
            Some(kid) => {
                let found: Vec<&AcceptedKey> = self.keys.iter().filter(|k| &k.kid == kid).collect();
                if found.is_empty() {
                    return Err(TokenError::UnknownKey(kid.clone()));
                }
                found
            }
            None => self.keys.iter().collect(),
        };
        // The signature only: the claims are checked below, with messages that say what was
        // wrong (the library's errors do not say when a token expired, or for whom it was).
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let mut claims = None;
        for key in candidates {
            match jsonwebtoken::decode::<Claims>(token, &key.key, &validation) {
                Ok(data) => {
                    claims = Some(data.claims);
                    break;
                }
                Err(e) if matches!(e.kind(), ErrorKind::InvalidSignature) => continue,
                Err(e) => return Err(TokenError::Malformed(e.to_string())),
            }
        }
        let claims = claims.ok_or(TokenError::BadSignature)?;
        if claims.iss != self.issuer {
            return Err(TokenError::WrongIssuer { got: claims.iss, want: self.issuer.clone() });
        }
        if claims.aud != self.audience {
            return Err(TokenError::WrongAudience { got: claims.aud, want: self.audience.clone() });
        }
        let leeway = LEEWAY.as_secs();
        if claims.nbf > now.saturating_add(leeway) {
            return Err(TokenError::NotYetValid(claims.nbf));
        }
        if claims.exp.saturating_add(leeway) <= now {
            return Err(TokenError::Expired(claims.exp));
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(role: Role, ttl: u64) -> TokenSpec {
        TokenSpec {
            subject: "alice".into(),
            role,
            issuer: "iss".into(),
            audience: "aud".into(),
            ttl: Duration::from_secs(ttl),
        }
    }

    fn pair() -> (Signer, String) {
        let p = KeyPair::generate().unwrap();
        (Signer::from_pem(&p.private_pem).unwrap(), p.public_pem)
    }

    const NOW: u64 = 1_800_000_000;

    #[test]
    fn a_token_round_trips_with_its_role() {
        let (signer, public) = pair();
        let v = Verifier::new(&[&public], "iss", "aud").unwrap();
        let token = signer.issue(&spec(Role::DataOwner, 3600), NOW).unwrap();
        let c = v.verify(&token, NOW + 10).unwrap();
        assert_eq!((c.sub.as_str(), c.role, c.exp), ("alice", Role::DataOwner, NOW + 3600));
        assert_eq!(v.key_ids(), vec![signer.kid().to_string()]);
    }

    #[test]
    fn expiry_and_not_before_have_the_stated_leeway() {
        let (signer, public) = pair();
        let v = Verifier::new(&[&public], "iss", "aud").unwrap();
        let token = signer.issue(&spec(Role::Admin, 60), NOW).unwrap();
        let leeway = LEEWAY.as_secs();
        assert!(v.verify(&token, NOW + 60 + leeway - 1).is_ok());
        let e = v.verify(&token, NOW + 60 + leeway).unwrap_err();
        assert_eq!(e, TokenError::Expired(NOW + 60));
        assert!(e.to_string().contains("expired at 2027-01-15T08:01:00Z"), "{e}");
        assert!(v.verify(&token, NOW - leeway).is_ok());
        assert_eq!(v.verify(&token, NOW - leeway - 1), Err(TokenError::NotYetValid(NOW)));
    }

    #[test]
    fn another_key_issuer_or_audience_is_refused() {
        let (signer, public) = pair();
        let (other, _) = pair();
        let v = Verifier::new(&[&public], "iss", "aud").unwrap();
        let foreign = other.issue(&spec(Role::Admin, 60), NOW).unwrap();
        assert_eq!(v.verify(&foreign, NOW), Err(TokenError::UnknownKey(other.kid().into())));
        let mut s = spec(Role::Admin, 60);
        s.issuer = "mallory".into();
        let e = v.verify(&signer.issue(&s, NOW).unwrap(), NOW).unwrap_err();
        assert_eq!(e, TokenError::WrongIssuer { got: "mallory".into(), want: "iss".into() });
        let mut s = spec(Role::Admin, 60);
        s.audience = "prod".into();
        let e = v.verify(&signer.issue(&s, NOW).unwrap(), NOW).unwrap_err();
        assert_eq!(e, TokenError::WrongAudience { got: "prod".into(), want: "aud".into() });
    }

    #[test]
    fn a_forged_signature_under_a_known_key_id_is_refused() {
        let (signer, public) = pair();
        let v = Verifier::new(&[&public], "iss", "aud").unwrap();
        let token = signer.issue(&spec(Role::DataReader, 60), NOW).unwrap();
        // Same header (same kid), claims changed to Admin: the signature no longer matches.
        let (head, rest) = token.split_once('.').unwrap();
        let sig = rest.rsplit_once('.').unwrap().1;
        let admin = signer.issue(&spec(Role::Admin, 60), NOW).unwrap();
        let admin_claims = admin.split('.').nth(1).unwrap();
        let forged = format!("{head}.{admin_claims}.{sig}");
        assert_eq!(v.verify(&forged, NOW), Err(TokenError::BadSignature));
    }

    #[test]
    fn rotation_accepts_either_key_while_both_are_listed() {
        let (old, old_public) = pair();
        let (new, new_public) = pair();
        let both = Verifier::new(&[&old_public, &new_public], "iss", "aud").unwrap();
        let only_new = Verifier::new(&[&new_public], "iss", "aud").unwrap();
        let old_token = old.issue(&spec(Role::DataReader, 60), NOW).unwrap();
        let new_token = new.issue(&spec(Role::DataReader, 60), NOW).unwrap();
        assert!(both.verify(&old_token, NOW).is_ok());
        assert!(both.verify(&new_token, NOW).is_ok());
        assert!(only_new.verify(&new_token, NOW).is_ok());
        assert!(matches!(only_new.verify(&old_token, NOW), Err(TokenError::UnknownKey(_))));
    }

    #[test]
    fn garbage_is_malformed_and_bad_keys_are_refused() {
        let (_, public) = pair();
        let v = Verifier::new(&[&public], "iss", "aud").unwrap();
        for bad in ["", "abc", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30.x"] {
            assert!(matches!(v.verify(bad, NOW), Err(TokenError::Malformed(_))), "{bad}");
        }
        assert!(Verifier::new(&[], "iss", "aud").is_err());
        assert!(Verifier::new(&["not a key"], "iss", "aud").is_err());
        assert!(Verifier::new(&[&public], "", "aud").is_err());
        assert!(Signer::from_pem(&public).is_err());
    }

    #[test]
    fn key_pairs_are_written_once_with_a_private_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = KeyPair::generate().unwrap();
        let (private, public) = p.write(dir.path()).unwrap();
        let signer = Signer::load(&private).unwrap();
        assert_eq!(signer.kid(), p.kid);
        assert!(Verifier::load(&[public], "iss", "aud").is_ok());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&private).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "the private key is readable by others: {mode:o}");
        }
        assert!(KeyPair::generate().unwrap().write(dir.path()).is_err());
    }
}
