//! `twinstore dr ...`: cross-region disaster recovery.
//!
//! Every subcommand starts from a [`DrOverview`]: the DR status of every `--endpoint` and of every
//! node their answers name (their region's members and the other region's endpoints), asked at
//! once. So one endpoint of either region is enough; giving both regions' endpoints (as `up`
//! prints them) also works when one region is down.
//!
//! - `status`: both regions side by side — role, epoch, leader, replicated position and time,
//!   lag (entries, seconds, p50/p99 of the replication latency), the primary's retained log and
//!   what the standby confirmed, where a fenced region's history ended, writes kept aside, and
//!   whether the standby is shipping. Each region's figures come from its leader (the node that
//!   runs the shipper). Fails only when no node answers at all.
//! - `failover --planned | --forced`: sent to the standby region (the region that follows the
//!   primary); prints the server's report and the wall time of the whole command. A forced
//!   failover is refused while the primary still answers, unless `--even-if-primary-answers`: it
//!   would lose whatever the standby has not received yet, where a planned one loses nothing.
//! - `reprotect`: sent to the region that is not the primary (an old primary back after a forced
//!   failover): it keeps aside the writes the new primary never received, is reseeded and becomes
//!   the standby.
//! - `divergent [--export FILE]`: those writes, one JSON object a line (each with its `region`).

use super::Ctx;
use super::output::{CliError, CliResult, OutputFormat, out};
use clap::{ArgGroup, Subcommand};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Instant;
use twinstore::client::{Client, DrOverview, FailoverKind, FailoverOutcome};
use twinstore::error::ErrorCode;
use twinstore::model::time::Timestamp;
use twinstore::pb;

#[derive(Debug, Subcommand)]
pub(crate) enum DrCommand {
    /// Both regions side by side: roles, epoch, replication position, lag, fencing.
    Status,
    /// Make the standby region the primary: --planned (zero loss) or --forced (the primary is
    /// gone). Sent to the standby region, found from the endpoints.
    #[command(group(ArgGroup::new("kind").required(true).args(["planned", "forced"])))]
    Failover {
        /// A switchover: the primary stops taking writes, the standby catches up with it and is
        /// promoted, and the old primary follows the new one. Nothing acknowledged is lost.
        #[arg(long)]
        planned: bool,
        /// The primary region is gone: promote the standby at what it has. Writes it had not
        /// received are not carried over (the report says as of when).
        #[arg(long)]
        forced: bool,
        /// Force even though a node of the primary region still answers as primary.
        #[arg(long, requires = "forced")]
        even_if_primary_answers: bool,
    },
    /// Make the old primary (back after a forced failover) the standby of the new primary: keep
    /// aside the writes the new primary never received, reseed it, ship the other way.
    Reprotect,
    /// The writes kept aside by reprotect, one JSON object a line.
    Divergent {
        /// Write them to FILE (JSON lines) instead of stdout.
        #[arg(long, value_name = "FILE")]
        export: Option<PathBuf>,
        /// Only this region's [default: every region that keeps some].
        #[arg(long, value_name = "NAME")]
        region: Option<String>,
    },
}

pub(crate) async fn run(ctx: Ctx, cmd: DrCommand) -> CliResult {
    let Ctx { client, printer } = ctx;
    let format = printer.format;
    match cmd {
        DrCommand::Status => {
            let overview = answering_overview(&client).await?;
            match format {
                OutputFormat::Json => out(&status_json(&overview).to_string()),
                OutputFormat::Text => {
                    for line in status_lines(&overview) {
                        out(&line);
                    }
                }
            }
        }
        DrCommand::Failover { planned, forced: _, even_if_primary_answers } => {
            failover(&client, format, planned, even_if_primary_answers).await?
        }
        DrCommand::Reprotect => reprotect(&client, format).await?,
        DrCommand::Divergent { export, region } => {
            divergent(&client, format, export, region).await?
        }
    }
    Ok(())
}

/// The overview, failing when no node answers.
async fn answering_overview(client: &Client) -> CliResult<DrOverview> {
    let overview = client.dr_overview().await;
    if overview.reachable() == 0 {
        let first = overview.nodes.iter().find_map(|n| n.status.as_ref().err().cloned());
        return Err(CliError::new(
            ErrorCode::Unavailable,
            format!(
                "no node answered: {}",
                first.map(|e| e.to_string()).unwrap_or_else(|| "no endpoint given".into())
            ),
        ));
    }
    Ok(overview)
}

fn time_text(ns: u64) -> Option<String> {
    (ns > 0).then(|| Timestamp(ns).to_adt_string())
}

/// The region that follows the primary (for the top-level lag figures), if any answers.
fn standby_of(overview: &DrOverview) -> Option<String> {
    overview.standby_region().ok().or_else(|| {
        let primary = overview.primary().map(|(r, _)| r);
        overview.regions().into_iter().find(|r| Some(r) != primary.as_ref())
    })
}

/// One region in JSON.
fn region_json(overview: &DrOverview, region: &str) -> Value {
    let nodes = overview.region_nodes(region);
    let node_values: Vec<Value> = nodes
        .iter()
        .map(|n| match &n.status {
            Ok(s) => json!({
                "endpoint": n.url,
                "reachable": true,
                "node_id": s.node_id,
                "leader": s.leader,
                "role": s.role().label(),
                "epoch": s.epoch,
                "applied_index": s.applied_index,
            }),
            Err(e) => json!({"endpoint": n.url, "reachable": false, "error": e.to_string()}),
        })
        .collect();
    let reachable = nodes.iter().filter(|n| n.status.is_ok()).count();
    let mut v = json!({
        "region": region,
        "nodes_total": nodes.len(),
        "nodes_reachable": reachable,
        "nodes": node_values,
    });
    let Some((node, s)) = overview.region_view(region) else {
        v["reachable"] = json!(false);
        return v;
    };
    let standby = s.role() == pb::DrRole::Standby;
    let fields = json!({
        "reachable": true,
        "role": s.role().label(),
        "epoch": s.epoch,
        "leader_id": s.leader.then_some(s.node_id),
        "leader_endpoint": s.leader.then(|| node.url.clone()),
        "applied_index": s.applied_index,
        "replicated_epoch": s.replicated_epoch,
        "replicated_index": s.replicated_index,
        "replicated_time": if standby { time_text(s.replicated_time_ns) } else { None },
        "replicated_time_ns": s.replicated_time_ns,
        "lag_entries": s.lag_entries,
        "lag_seconds": s.lag_seconds,
        "lag_p50_ms": s.lag_p50_ms,
        "lag_p99_ms": s.lag_p99_ms,
        "lag_max_ms": s.lag_max_ms,
        "lag_samples": s.lag_samples,
        "retained_from": s.retained_from,
        "retained_to": s.retained_to,
        "standby_confirmed": s.standby_confirmed,
        "fenced_epoch": s.fenced_epoch,
        "fenced_index": s.fenced_index,
        "promoted_index": s.promoted_index,
        "divergent_writes": s.divergent_writes,
        "shipping": s.shipping,
        "shipping_error": s.shipping_error,
        "peer_region": s.peer_region,
        "peer_endpoints": s.peer_endpoints,
        "endpoints": s.endpoints,
    });
    if let (Value::Object(v), Value::Object(f)) = (&mut v, fields) {
        v.extend(f);
    }
    v
}

/// `dr status --output json`: the regions, and at the top what scripts look at most (the
/// primary, the epoch, the standby's lag, and `caught_up`: the standby's leader is shipping and
/// has everything the primary last told it of).
pub(crate) fn status_json(overview: &DrOverview) -> Value {
    let primary = overview.primary();
    let standby = standby_of(overview);
    let regions: Vec<Value> = overview.regions().iter().map(|r| region_json(overview, r)).collect();
    let lag = standby.as_deref().and_then(|r| overview.region_view(r)).map(|(_, s)| s);
    // The standby's leader is connected to the primary and has all it knows of.
    let caught_up = lag.is_some_and(|s| {
        s.role() == pb::DrRole::Standby && s.leader && s.shipping && s.lag_entries == 0
    });
    json!({
        "caught_up": caught_up,
        "primary_region": primary.as_ref().map(|(r, _)| r),
        "epoch": primary.as_ref().map(|(_, e)| *e).unwrap_or(overview.max_epoch()),
        "standby_region": standby,
        "lag_entries": lag.map(|s| s.lag_entries),
        "lag_seconds": lag.map(|s| s.lag_seconds),
        "lag_p50_ms": lag.map(|s| s.lag_p50_ms),
        "lag_p99_ms": lag.map(|s| s.lag_p99_ms),
        "replicated_index": lag.map(|s| s.replicated_index),
        "shipping": lag.map(|s| s.shipping),
        "reachable": overview.reachable(),
        "nodes": overview.nodes.len(),
        "regions": regions,
    })
}

/// `dr status` for people: a summary line, then the regions side by side.
pub(crate) fn status_lines(overview: &DrOverview) -> Vec<String> {
    let primary = overview.primary();
    let regions = overview.regions();
    let mut lines = Vec::new();
    let standby = standby_of(overview);
    let lag = standby.as_deref().and_then(|r| overview.region_view(r)).map(|(_, s)| s);
    lines.push(match (&primary, &standby, lag) {
        (Some((p, e)), Some(s), Some(l)) if l.role() == pb::DrRole::Standby => format!(
            "region {p} is the primary at epoch {e}; region {s} {}",
            if l.shipping {
                format!(
                    "follows it, {} entr{} ({:.3} s) behind",
                    l.lag_entries,
                    if l.lag_entries == 1 { "y" } else { "ies" },
                    l.lag_seconds
                )
            } else if l.fenced_index > 0 && l.replicated_index == 0 {
                "was fenced and follows nobody: run `twinstore dr reprotect`".to_string()
            } else {
                "is a standby, not shipping now".to_string()
            }
        ),
        (Some((p, e)), Some(s), _) => {
            format!("region {p} is the primary at epoch {e}; region {s} does not answer")
        }
        (Some((p, e)), None, _) => format!("region {p} is the primary at epoch {e} (no standby)"),
        (None, _, _) => format!(
            "no region answers as the primary (highest epoch seen: {})",
            overview.max_epoch()
        ),
    });
    let dash = || "-".to_string();
    let mut rows: Vec<(&str, Vec<String>)> = vec![("", regions.clone())];
    let mut add = |label: &'static str, f: &dyn Fn(&pb::DrStatusResponse, &str) -> String| {
        let cells = regions
            .iter()
            .map(|r| match overview.region_view(r) {
                Some((n, s)) => f(s, &n.url),
                None => {
                    if label == "role" {
                        "unreachable".into()
                    } else {
                        dash()
                    }
                }
            })
            .collect();
        rows.push((label, cells));
    };
    add("role", &|s, _| s.role().label().to_string());
    add("epoch", &|s, _| s.epoch.to_string());
    add("leader", &|s, url| {
        if s.leader { format!("node {} {url}", s.node_id) } else { "none answering".into() }
    });
    add("applied index", &|s, _| s.applied_index.to_string());
    add("replicated", &|s, _| {
        if s.role() == pb::DrRole::Standby && s.replicated_index > 0 {
            format!("{}:{}", s.replicated_epoch, s.replicated_index)
        } else {
            dash()
        }
    });
    add("replicated time", &|s, _| {
        if s.role() == pb::DrRole::Standby {
            time_text(s.replicated_time_ns).unwrap_or_else(dash)
        } else {
            dash()
        }
    });
    add("lag", &|s, _| {
        if s.role() == pb::DrRole::Standby && s.leader {
            format!("{} entries, {:.3} s", s.lag_entries, s.lag_seconds)
        } else {
            dash()
        }
    });
    add("lag p50 / p99", &|s, _| {
        // Kept by the standby's leader; a promoted region still holds its old figures.
        if s.role() == pb::DrRole::Standby && s.leader && s.lag_samples > 0 {
            format!("{:.1} / {:.1} ms ({} batches)", s.lag_p50_ms, s.lag_p99_ms, s.lag_samples)
        } else {
            dash()
        }
    });
    add("retained log", &|s, _| {
        if s.role() == pb::DrRole::Primary && s.retained_to > 0 {
            format!("{}..{}", s.retained_from, s.retained_to)
        } else {
            dash()
        }
    });
    add("standby confirmed", &|s, _| {
        if s.role() == pb::DrRole::Primary { s.standby_confirmed.to_string() } else { dash() }
    });
    add("fenced at", &|s, _| {
        if s.fenced_index > 0 { format!("{}:{}", s.fenced_epoch, s.fenced_index) } else { dash() }
    });
    add("divergent writes", &|s, _| s.divergent_writes.to_string());
    add("shipping", &|s, _| {
        if s.role() != pb::DrRole::Standby {
            dash()
        } else if s.shipping {
            format!("connected to {}", s.peer_region)
        } else if !s.leader {
            "unknown (not the leader)".into()
        } else if s.shipping_error.is_empty() {
            "not connected".into()
        } else {
            format!("not connected: {}", s.shipping_error)
        }
    });
    add("nodes", &|_, _| String::new());
    // The node count is per region, not per view.
    if let Some((_, cells)) = rows.last_mut() {
        for (cell, r) in cells.iter_mut().zip(&regions) {
            let nodes = overview.region_nodes(r);
            let ok = nodes.iter().filter(|n| n.status.is_ok()).count();
            *cell = format!("{ok}/{} answering", nodes.len());
        }
    }
    let label_width = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..regions.len())
        .map(|c| rows.iter().map(|(_, cells)| cells[c].chars().count()).max().unwrap_or(0))
        .collect();
    for (label, cells) in &rows {
        let mut line = format!("{label:<label_width$}");
        for (c, cell) in cells.iter().enumerate() {
            line.push_str("   ");
            if c + 1 < cells.len() {
                line.push_str(&format!("{cell:<w$}", w = widths[c]));
            } else {
                line.push_str(cell);
            }
        }
        lines.push(line.trim_end().to_string());
    }
    let unknown = overview.nodes.iter().filter(|n| n.region.is_none()).count();
    if unknown > 0 {
        lines.push(format!("{unknown} endpoint(s) of unknown region do not answer"));
    }
    lines
}

async fn failover(
    client: &Client,
    format: OutputFormat,
    planned: bool,
    even_if_primary_answers: bool,
) -> CliResult {
    let started = Instant::now();
    let kind = if planned {
        FailoverKind::Planned
    } else {
        FailoverKind::Forced { even_if_primary_answers }
    };
    let FailoverOutcome { endpoint, old_primary, report: r, .. } =
        client.failover(kind).await.map_err(|e| match e.code {
            Some(code @ ErrorCode::OperationNotAllowed) if !planned => CliError::new(
                code,
                format!("{}; use --planned, or add --even-if-primary-answers", e.message),
            ),
            _ => CliError::from(e),
        })?;
    let kind = if planned { "planned" } else { "forced" };
    let elapsed = started.elapsed();
    match format {
        OutputFormat::Json => out(&json!({
            "kind": kind,
            "region": r.region,
            "epoch": r.epoch,
            "old_primary": old_primary,
            "promoted_at": {
                "epoch": r.promoted_at_epoch,
                "index": r.promoted_at_index,
                "time": time_text(r.promoted_at_time_ns),
                "time_ns": r.promoted_at_time_ns,
            },
            "write_pause_ms": r.write_pause_ms,
            "rpo_seconds": r.rpo_seconds,
            "lost_entries_estimate": r.lost_entries_estimate,
            "elapsed_ms": elapsed.as_secs_f64() * 1000.0,
            "endpoint": endpoint,
            "summary": r.summary,
        })
        .to_string()),
        OutputFormat::Text => {
            let was = match &old_primary {
                Some(p) if *p != r.region => format!("was region {p}"),
                _ => "the old primary did not answer".into(),
            };
            out(&format!(
                "{kind} failover done: region {} is the primary at epoch {} ({was})",
                r.region, r.epoch
            ));
            out(&format!(
                "  promoted at    {}:{} (the old primary's time {})",
                r.promoted_at_epoch,
                r.promoted_at_index,
                time_text(r.promoted_at_time_ns).unwrap_or_else(|| "unknown".into())
            ));
            if planned {
                out(&format!(
                    "  write pause    {:.0} ms (writes were refused from the fence to the promotion)",
                    r.write_pause_ms
                ));
                out("  RPO            0: every acknowledged write is in the new primary");
            } else {
                out(&format!(
                    "  RPO            {:.3} s: writes after {}:{} (at least {} log entries, by the \
                     old primary's last reported position) were not carried over",
                    r.rpo_seconds,
                    r.promoted_at_epoch,
                    r.promoted_at_index,
                    r.lost_entries_estimate
                ));
            }
            out(&format!("  command took   {:.2} s (sent to {endpoint})", elapsed.as_secs_f64()));
            out(&format!("  {}", r.summary));
            if !planned {
                out(
                    "  when the old primary is back: `twinstore dr reprotect`, then `twinstore dr divergent`",
                );
            }
        }
    }
    Ok(())
}

async fn reprotect(client: &Client, format: OutputFormat) -> CliResult {
    let started = Instant::now();
    let overview = answering_overview(client).await?;
    let region = overview.reprotect_region()?;
    let (endpoint, r) = client.reprotect_at(&overview.region_urls(&region)).await?;
    let elapsed = started.elapsed();
    match format {
        OutputFormat::Json => out(&json!({
            "region": region,
            "divergent_writes": r.divergent_writes,
            "reseeded_at": {"epoch": r.reseeded_epoch, "index": r.reseeded_index},
            "elapsed_ms": elapsed.as_secs_f64() * 1000.0,
            "endpoint": endpoint,
            "summary": r.summary,
        })
        .to_string()),
        OutputFormat::Text => {
            out(&r.summary);
            out(&format!("  command took {:.2} s (sent to {endpoint})", elapsed.as_secs_f64()));
        }
    }
    Ok(())
}

async fn divergent(
    client: &Client,
    format: OutputFormat,
    export: Option<PathBuf>,
    only: Option<String>,
) -> CliResult {
    let overview = answering_overview(client).await?;
    let answering: Vec<String> =
        overview.regions().into_iter().filter(|r| overview.region_view(r).is_some()).collect();
    let regions: Vec<String> = match &only {
        Some(r) => {
            if !answering.contains(r) {
                return Err(CliError::new(
                    ErrorCode::Unavailable,
                    format!("no node of region '{r}' answers ({})", overview.describe()),
                ));
            }
            vec![r.clone()]
        }
        None => {
            let keeping: Vec<String> = answering
                .iter()
                .filter(|r| overview.region_view(r).is_some_and(|(_, s)| s.divergent_writes > 0))
                .cloned()
                .collect();
            if keeping.is_empty() { answering.clone() } else { keeping }
        }
    };
    let mut lines: Vec<String> = Vec::new();
    for region in &regions {
        let mut last = None;
        let mut done = false;
        for url in overview.region_urls(region) {
            match client.divergent(&url).await {
                Ok(writes) => {
                    for w in writes {
                        lines.push(match serde_json::from_str::<Value>(&w) {
                            Ok(Value::Object(mut o)) => {
                                o.insert("region".into(), json!(region));
                                Value::Object(o).to_string()
                            }
                            _ => w,
                        });
                    }
                    done = true;
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        if !done && let Some(e) = last {
            return Err(CliError::from(e).context(&format!("reading region '{region}'")));
        }
    }
    match export {
        Some(path) => {
            let mut text = lines.join("\n");
            if !text.is_empty() {
                text.push('\n');
            }
            std::fs::write(&path, text).map_err(|e| {
                CliError::new(
                    ErrorCode::InvalidArgument,
                    format!("cannot write {}: {e}", path.display()),
                )
            })?;
            let sentence = format!(
                "{} divergent write(s) of region(s) {} written to {}",
                lines.len(),
                regions.join(", "),
                path.display()
            );
            match format {
                OutputFormat::Json => out(&json!({
                    "exported": lines.len(),
                    "file": path.display().to_string(),
                    "regions": regions,
                })
                .to_string()),
                OutputFormat::Text => out(&sentence),
            }
        }
        None => match format {
            OutputFormat::Json => {
                let values: Vec<Value> = lines
                    .iter()
                    .map(|l| serde_json::from_str(l).unwrap_or_else(|_| json!(l)))
                    .collect();
                out(&Value::Array(values).to_string());
            }
            OutputFormat::Text => {
                if lines.is_empty() {
                    eprintln!("no divergent writes in region(s) {}", regions.join(", "));
                }
                for l in &lines {
                    out(l);
                }
            }
        },
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use twinstore::client::DrNode;

    fn node(url: &str, s: pb::DrStatusResponse) -> DrNode {
        DrNode { url: url.into(), region: Some(s.region.clone()), status: Ok(s) }
    }

    fn overview() -> DrOverview {
        let primary = pb::DrStatusResponse {
            region: "primary".into(),
            role: pb::DrRole::Primary.into(),
            epoch: 1,
            node_id: 1,
            leader: true,
            applied_index: 120,
            retained_from: 1,
            retained_to: 120,
            standby_confirmed: 118,
            peer_region: "standby".into(),
            ..Default::default()
        };
        let standby = pb::DrStatusResponse {
            region: "standby".into(),
            role: pb::DrRole::Standby.into(),
            epoch: 1,
            node_id: 2,
            leader: true,
            applied_index: 90,
            replicated_epoch: 1,
            replicated_index: 120,
            replicated_time_ns: 1_700_000_000_000_000_000,
            lag_entries: 0,
            lag_seconds: 0.05,
            lag_p50_ms: 1.5,
            lag_p99_ms: 4.0,
            lag_samples: 30,
            shipping: true,
            peer_region: "primary".into(),
            ..Default::default()
        };
        DrOverview {
            nodes: vec![
                node("http://127.0.1.1:7001", primary),
                node("http://127.0.2.2:7001", standby),
                DrNode {
                    url: "http://127.0.2.1:7001".into(),
                    region: Some("standby".into()),
                    status: Err(twinstore::client::ClientError::timeout("x", Default::default())),
                },
            ],
        }
    }

    #[test]
    fn status_shows_both_regions_side_by_side() {
        let lines = status_lines(&overview());
        assert_eq!(
            lines[0],
            "region primary is the primary at epoch 1; region standby follows it, 0 entries \
             (0.050 s) behind"
        );
        let header = &lines[1];
        assert!(header.contains("primary") && header.contains("standby"), "{lines:#?}");
        let row = |label: &str| lines.iter().find(|l| l.starts_with(label)).cloned().unwrap();
        assert!(row("leader").contains("node 1 http://127.0.1.1:7001"), "{lines:#?}");
        assert!(row("leader").contains("node 2 http://127.0.2.2:7001"), "{lines:#?}");
        assert!(row("replicated ").contains("1:120"), "{lines:#?}");
        assert!(row("retained log").contains("1..120"), "{lines:#?}");
        assert!(row("lag p50 / p99").contains("1.5 / 4.0 ms (30 batches)"), "{lines:#?}");
        assert!(row("shipping").contains("connected to primary"), "{lines:#?}");
        assert!(row("nodes").contains("1/1 answering") && row("nodes").contains("1/2 answering"));
    }

    #[test]
    fn status_json_has_the_regions_and_the_standby_s_lag_on_top() {
        let j = status_json(&overview());
        assert_eq!(j["primary_region"], "primary");
        assert_eq!(j["standby_region"], "standby");
        assert_eq!(j["epoch"], 1);
        assert_eq!(j["lag_entries"], 0);
        assert_eq!(j["caught_up"], true);
        assert_eq!(j["replicated_index"], 120);
        assert_eq!(j["regions"][0]["region"], "primary");
        assert_eq!(j["regions"][0]["leader_id"], 1);
        assert_eq!(j["regions"][1]["nodes_reachable"], 1);
        assert_eq!(j["regions"][1]["nodes_total"], 2);
        assert_eq!(j["regions"][1]["replicated_time"], "2023-11-14T22:13:20.0000000Z");
        assert_eq!(j["regions"][1]["nodes"][1]["reachable"], false, "{j}");
    }
}
