//! `twinstore health`: service health and resource health.
//!
//! - `health`: both regions (the answering node's region, then its peer), each with its role,
//!   epoch, state and reasons, and every node with its raft role, health, progress and reasons;
//! - `health --history [--since 2h|RFC 3339]`: the incident history, newest first;
//! - `health incident ID`: one incident's summary and timeline.
//!
//! Any node answers (the client moves past dead ones), so give endpoints of both regions and it
//! keeps working while a region is down. `--output json` prints the same data as JSON.

use super::Ctx;
use super::output::{CliError, CliResult, OutputFormat, out};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use twinstore::error::ErrorCode;
use twinstore::model::time::Timestamp;
use twinstore::pb::{self, HealthState};

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct HealthArgs {
    /// Show the incident history (newest first) instead of the current health.
    #[arg(long)]
    history: bool,
    /// With --history: only incidents active at some time since then — a duration ago (90s, 30m,
    /// 2h, 7d) or an RFC 3339 time.
    #[arg(long, requires = "history", value_name = "WHEN")]
    since: Option<String>,
    #[command(subcommand)]
    command: Option<HealthCommand>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum HealthCommand {
    /// One incident: its summary and its timeline of updates.
    Incident {
        /// The incident's id (from `health --history`).
        id: String,
    },
}

pub(crate) async fn run(ctx: Ctx, args: HealthArgs) -> CliResult {
    let Ctx { client, printer } = ctx;
    let json = printer.format == OutputFormat::Json;
    if let Some(HealthCommand::Incident { id }) = args.command {
        let i = client.incident(&id).await?;
        if json {
            out(&incident_json(&i).to_string());
        } else {
            for line in incident_text(&i, true) {
                out(&line);
            }
        }
        return Ok(());
    }
    if args.history {
        let since = match &args.since {
            Some(s) => parse_since(s, Timestamp::now())?,
            None => 0,
        };
        let r = client.incidents(since, 0).await?;
        if json {
            let items: Vec<Value> = r.incidents.iter().map(incident_json).collect();
            out(&json!({"region": r.region, "incidents": items}).to_string());
        } else if r.incidents.is_empty() {
            out(&format!("no incidents (as recorded in region {})", r.region));
        } else {
            for i in &r.incidents {
                for line in incident_text(i, false) {
                    out(&line);
                }
            }
        }
        return Ok(());
    }
    let r = client.health_overview().await?;
    if json {
        let regions: Vec<Value> = r.regions.iter().map(region_json).collect();
        out(&json!({ "regions": regions }).to_string());
    } else {
        for (n, region) in r.regions.iter().enumerate() {
            if n > 0 {
                out("");
            }
            for line in region_text(region) {
                out(&line);
            }
        }
    }
    Ok(())
}

/// `--since`: a duration ago (`90s`, `30m`, `2h`, `7d`) or an RFC 3339 time, as nanoseconds.
pub(crate) fn parse_since(s: &str, now: Timestamp) -> CliResult<u64> {
    let bad = || {
        CliError::new(
            ErrorCode::InvalidArgument,
            format!("--since {s}: expected a duration such as 30m, 2h, 7d, or an RFC 3339 time"),
        )
    };
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return t.timestamp_nanos_opt().map(|n| n.max(0) as u64).ok_or_else(bad);
    }
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => n,
        "m" | "min" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(bad()),
    };
    Ok(now.0.saturating_sub(secs.saturating_mul(1_000_000_000)))
}

fn state_name(s: HealthState) -> &'static str {
    twinstore::health::state::name(s)
}

fn when(ns: u64) -> String {
    if ns == 0 { "-".into() } else { Timestamp(ns).to_adt_string() }
}

fn region_text(r: &pb::RegionHealth) -> Vec<String> {
    let mut lines = Vec::new();
    let role = r.dr_role().label();
    let leader =
        if r.leader_id == 0 { "no leader".to_string() } else { format!("leader {}", r.leader_id) };
    let lag = r
        .nodes
        .iter()
        .find(|n| n.raft_role() == pb::RaftRole::Leader && r.dr_role() == pb::DrRole::Standby)
        .map(|n| format!("  lag {:.1} s ({} entries)", n.lag_seconds, n.lag_entries))
        .unwrap_or_default();
    lines.push(format!(
        "region {}  {role}  epoch {}  {leader}  {}{lag}",
        r.region,
        r.dr_epoch,
        state_name(r.state())
    ));
    for reason in &r.reasons {
        lines.push(format!("  - {reason}"));
    }
    if !r.nodes.is_empty() {
        lines.push(format!(
            "  {:<5} {:<10} {:<12} {:>9} {:>7}  {}",
            "node", "role", "health", "applied", "behind", "address"
        ));
    }
    for n in &r.nodes {
        let id =
            format!("{}{}", n.id, if n.raft_role() == pb::RaftRole::Leader { "*" } else { "" });
        let role = if n.reachable { n.raft_role().label() } else { "-" };
        lines.push(format!(
            "  {:<5} {:<10} {:<12} {:>9} {:>7}  {}",
            id,
            role,
            state_name(n.state()),
            n.applied_index,
            n.behind_leader,
            n.addr
        ));
        if !n.reachable {
            lines.push(format!("        unreachable: {}", n.error));
        }
        for reason in &n.reasons {
            lines.push(format!("        {reason}"));
        }
    }
    lines
}

fn region_json(r: &pb::RegionHealth) -> Value {
    let nodes: Vec<Value> = r
        .nodes
        .iter()
        .map(|n| {
            json!({
                "id": n.id, "addr": n.addr, "reachable": n.reachable, "error": n.error,
                "role": n.raft_role().label(), "health": state_name(n.state()), "reasons": n.reasons,
                "term": n.term, "leader": n.leader_id, "applied_index": n.applied_index,
                "last_log_index": n.last_log_index, "behind_leader": n.behind_leader,
                "voter": n.voter, "fenced": n.fenced, "shipping": n.shipping,
                "lag_seconds": n.lag_seconds, "lag_entries": n.lag_entries,
                "storage_bytes": n.storage_bytes, "storage_error": n.storage_error,
            })
        })
        .collect();
    json!({
        "region": r.region, "health": state_name(r.state()), "reasons": r.reasons,
        "role": r.dr_role().label(), "epoch": r.dr_epoch, "leader": r.leader_id, "term": r.term,
        "reachable": r.reachable, "observed_by": r.observed_by, "peer_region": r.peer_region,
        "nodes": nodes,
    })
}

fn incident_text(i: &pb::Incident, full: bool) -> Vec<String> {
    let mut lines = Vec::new();
    let lasted = {
        let end = if i.mitigated_ns != 0 { i.mitigated_ns } else { Timestamp::now().0 };
        let d = std::time::Duration::from_nanos(end.saturating_sub(i.started_ns));
        twinstore::health::detect::duration_words(d)
    };
    let pending = if i.pending { "  (not recorded yet: no quorum)" } else { "" };
    lines.push(format!(
        "{}  {}  [{}]  started {}  {} {lasted}{pending}",
        i.id,
        i.title,
        i.kind,
        when(i.started_ns),
        if i.status == "Active" { "for" } else { "lasted" },
    ));
    lines.push(format!("    {}", i.summary));
    if full {
        let nodes: Vec<String> = i.nodes.iter().map(|n| n.to_string()).collect();
        lines.push(format!(
            "    region {}  nodes {}  recorded by {}  status {}  mitigated {}",
            i.region,
            if nodes.is_empty() { "-".into() } else { nodes.join(",") },
            i.owner,
            i.status,
            when(i.mitigated_ns)
        ));
        lines.push("    timeline:".into());
        for u in &i.updates {
            lines.push(format!("      {}  {:<9}  {}", when(u.time_ns), u.status, u.message));
        }
    }
    lines
}

fn incident_json(i: &pb::Incident) -> Value {
    let updates: Vec<Value> = i
        .updates
        .iter()
        .map(|u| json!({"time": when(u.time_ns), "status": u.status, "message": u.message}))
        .collect();
    json!({
        "id": i.id, "title": i.title, "kind": i.kind, "cause": i.cause, "region": i.region,
        "nodes": i.nodes, "owner": i.owner, "started": when(i.started_ns), "status": i.status,
        "mitigated": if i.mitigated_ns == 0 { Value::Null } else { json!(when(i.mitigated_ns)) },
        "summary": i.summary, "updates": updates, "pending": i.pending,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_durations_and_times() {
        let now = Timestamp(10_000 * 1_000_000_000);
        assert_eq!(parse_since("90s", now).unwrap(), (10_000 - 90) * 1_000_000_000);
        assert_eq!(parse_since("2h", now).unwrap(), (10_000 - 7200) * 1_000_000_000);
        assert_eq!(parse_since("1970-01-01T00:00:10Z", now).unwrap(), 10_000_000_000);
        assert!(parse_since("soon", now).is_err());
        assert!(parse_since("5w", now).is_err());
    }
}
