//! `twinstore token`: make a signing key pair and issue bearer tokens.
//!
//! `twinstore token keygen --out DIR` writes a new Ed25519 key pair: `DIR/token-signing.pem`
//! (the private key, mode 0600: whoever holds it can mint tokens) and `DIR/token-verify.pem` (the
//! public key, for the nodes' `--token-key`). It never overwrites a key.
//!
//! `twinstore token issue --key DIR/token-signing.pem --role DataReader --ttl 1h` prints one token
//! on stdout (and nothing else, so `$(twinstore token issue ...)` works); client commands take it
//! with `--token TOKEN`, `--token @FILE` or `TWINSTORE_TOKEN`. Nothing here talks to a node: the
//! nodes only ever see the public key, and a token is checked where it is used.
//!
//! TTLs are a number with a unit: `90s`, `30m`, `1h`, `7d` (a bare number is seconds).

use super::output::{CliError, CliResult};
use clap::Subcommand;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use twinstore::error::ErrorCode;
use twinstore::security::Role;
use twinstore::security::auth::{DEFAULT_AUDIENCE, DEFAULT_ISSUER};
use twinstore::security::token::{self, KeyPair, Signer, TokenSpec};

#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Write a new Ed25519 key pair: DIR/token-signing.pem (private) and DIR/token-verify.pem
    /// (public, for the nodes' --token-key).
    Keygen {
        /// The directory to write the two files into (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Print a signed token for a role.
    Issue {
        /// The private signing key (token-signing.pem).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// What the holder may do: DataReader, DataOwner or Admin.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// How long the token is valid: 90s, 30m, 1h, 7d.
        #[arg(long, value_parser = parse_ttl)]
        ttl: Duration,
        /// Who will hold the token (recorded by the nodes) [default: the role's name].
        #[arg(long, value_name = "NAME")]
        subject: Option<String>,
        /// The issuer the nodes expect (their --token-issuer).
        #[arg(long, value_name = "NAME", default_value = DEFAULT_ISSUER)]
        issuer: String,
        /// The audience the nodes expect (their --token-audience).
        #[arg(long, value_name = "NAME", default_value = DEFAULT_AUDIENCE)]
        audience: String,
    },
}

fn invalid(message: impl Into<String>) -> CliError {
    CliError::new(ErrorCode::InvalidArgument, message)
}

pub(crate) fn run(cmd: TokenCommand) -> CliResult<ExitCode> {
    match cmd {
        TokenCommand::Keygen { out } => {
            let pair = KeyPair::generate().map_err(|e| CliError::new(ErrorCode::Internal, e))?;
            let (private, public) = pair.write(&out).map_err(invalid)?;
            println!("private signing key: {} (key id {})", private.display(), pair.kid);
            println!("public key for the nodes' --token-key: {}", public.display());
        }
        TokenCommand::Issue { key, role, ttl, subject, issuer, audience } => {
            let signer = Signer::load(&key).map_err(invalid)?;
            let spec = TokenSpec {
                subject: subject.unwrap_or_else(|| role.as_str().to_string()),
                role,
                issuer,
                audience,
                ttl,
            };
            let token = signer
                .issue(&spec, token::now_secs())
                .map_err(|e| CliError::new(ErrorCode::Internal, e))?;
            println!("{token}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| format!("'{s}' is not a role: DataReader, DataOwner or Admin"))
}

/// `90s`, `30m`, `1h`, `7d`, or a bare number of seconds; more than zero.
pub(crate) fn parse_ttl(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: u64 = number.parse().map_err(|_| format!("'{s}' is not a duration such as 1h"))?;
    let unit_secs = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("'{s}': the unit is s, m, h or d (e.g. 1h)")),
    };
    match n.checked_mul(unit_secs) {
        Some(0) => Err("the ttl must be more than zero".into()),
        Some(secs) => Ok(Duration::from_secs(secs)),
        None => Err(format!("'{s}' is too long")),
    }
}

/// A `--token` value: the token itself, or `@FILE` for a file holding it (so it stays out of the
/// process list and the shell history).
pub(crate) fn read_token(value: &str) -> CliResult<String> {
    let token = match value.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| invalid(format!("cannot read the token file {path}: {e}")))?,
        None => value.to_string(),
    };
    let token = token.trim().to_string();
    if token.is_empty() {
        return Err(invalid("the token is empty"));
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_parse_with_units() {
        assert_eq!(parse_ttl("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_ttl("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_ttl("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_ttl("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_ttl("5"), Ok(Duration::from_secs(5)));
        assert!(parse_ttl("0h").is_err());
        assert!(parse_ttl("1w").is_err());
        assert!(parse_ttl("h").is_err());
        assert!(parse_ttl("").is_err());
    }

    #[test]
    fn tokens_come_as_values_or_files() {
        assert_eq!(read_token(" abc \n").unwrap(), "abc");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t");
        std::fs::write(&file, "xyz\n").unwrap();
        assert_eq!(read_token(&format!("@{}", file.display())).unwrap(), "xyz");
        assert!(read_token("@/nonexistent/token").is_err());
        assert!(read_token("  ").is_err());
    }
}
