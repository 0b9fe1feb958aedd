//! `twinstore audit list`: the audit trail of administrative operations — who ran which
//! failover, reprotect or membership change, when, and how it ended — newest first. Needs an
//! `Admin` token on a node with authentication.
//!
//! Text: one line per entry, `TIME  WHO (ROLE, VIA)  METHOD DETAIL  OUTCOME  node REGION/ID`.
//! `--output json` prints an array of objects with the same fields (`time` in ADT's format).

use super::Ctx;
use super::output::{CliResult, OutputFormat, out};
use clap::Subcommand;
use serde_json::json;
use twinstore::model::time::Timestamp;

#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// List the audit trail, newest first.
    List {
        /// At most this many entries (0: all).
        #[arg(long, default_value_t = 0)]
        limit: u32,
    },
}

pub(crate) async fn run(ctx: Ctx, cmd: AuditCommand) -> CliResult {
    let Ctx { client, printer } = ctx;
    let AuditCommand::List { limit } = cmd;
    let answer = client.audit_entries(limit).await?;
    if printer.format == OutputFormat::Json {
        let entries: Vec<_> = answer
            .entries
            .iter()
            .map(|e| {
                json!({
                    "time": Timestamp(e.time_ns).to_adt_string(),
                    "subject": e.subject,
                    "role": e.role,
                    "via": e.via,
                    "method": e.method,
                    "detail": e.detail,
                    "outcome": e.outcome,
                    "nodeId": e.node_id,
                    "region": e.region,
                    "index": e.index,
                })
            })
            .collect();
        out(&serde_json::Value::Array(entries).to_string());
        return Ok(());
    }
    if answer.entries.is_empty() {
        out(&format!("no administrative operations recorded in region '{}'", answer.region));
    }
    for e in &answer.entries {
        let role = if e.role.is_empty() { String::new() } else { format!("{}, ", e.role) };
        let detail = if e.detail.is_empty() { String::new() } else { format!(" {}", e.detail) };
        out(&format!(
            "{}  {} ({role}{})  {}{detail}  {}  node {}/{}",
            Timestamp(e.time_ns).to_adt_string(),
            e.subject,
            e.via,
            e.method,
            e.outcome,
            e.region,
            e.node_id
        ));
    }
    Ok(())
}
