//! The status page: one server-rendered HTML document, readable without a network connection (no
//! external assets: the style, the little JavaScript and the SVG charts are inline).
//!
//! It shows the two regions side by side (role, epoch, health with reasons, each node with its raft
//! role, health and progress), the replication lag over the last minutes as a small chart, and the
//! incident history, newest first, each with its timeline. The JavaScript only shows times in the
//! reader's time zone and reloads the page every few seconds (which can be switched off); without
//! it the page is complete.

use super::state;
use super::{Health, detect};
use crate::model::time::Timestamp;
use crate::pb::{self, HealthState};
use std::fmt::Write;
use std::time::Duration;

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn badge(s: HealthState) -> String {
    let name = state::name(s);
    format!("<span class=\"badge {}\">{name}</span>", name.to_lowercase())
}

fn time(ns: u64) -> String {
    if ns == 0 {
        return "—".into();
    }
    let t = Timestamp(ns).to_adt_string();
    let shown = t.get(..19).unwrap_or(&t).replace('T', " ");
    format!("<time data-ns=\"{ns}\" title=\"{t}\">{shown} UTC</time>")
}

/// The status page of the node `h`, given both regions' views and the incidents.
pub async fn render(h: &Health) -> String {
    let regions = h.overview().await;
    let incidents = h.incidents(Timestamp(0)).unwrap_or_default();
    let lag_threshold = h.thresholds().lag_seconds;
    document(h.dr().id, &h.dr().region, &regions, &incidents, lag_threshold, Timestamp::now())
}

/// The page from its data (pure, for tests).
pub fn document(
    node: u64,
    region: &str,
    regions: &[pb::RegionHealth],
    incidents: &[pb::Incident],
    lag_threshold: f64,
    now: Timestamp,
) -> String {
    let mut o = String::new();
    let overall = regions.iter().map(|r| r.state()).fold(HealthState::Available, state::worse);
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>twinstore status — {}</title><style>{STYLE}</style></head><body>\
         <header><h1>twinstore status <span id=\"overall\">{}</span></h1>\
         <p class=\"muted\">As seen by node {node} of region <b>{}</b> at {}. \
         <label><input type=\"checkbox\" id=\"auto\" checked> refresh every 5 s</label></p></header>\
         <main><div class=\"regions\">",
        state::name(overall),
        badge(overall),
        esc(region),
        time(now.0),
    );
    for r in regions {
        region_card(&mut o, r, lag_threshold);
    }
    o.push_str("</div><section id=\"incidents\"><h2>Incident history</h2>");
    if incidents.is_empty() {
        o.push_str("<p class=\"muted\">No incidents.</p>");
    }
    for i in incidents {
        incident_item(&mut o, i, now);
    }
    let _ = writeln!(o, "</section></main><script>{SCRIPT}</script></body></html>");
    o
}

fn region_card(o: &mut String, r: &pb::RegionHealth, lag_threshold: f64) {
    let role = match r.dr_role() {
        pb::DrRole::Unspecified => "unknown role",
        known => known.label(),
    };
    let _ = write!(
        o,
        "<section class=\"region\" data-region=\"{name}\" data-state=\"{state}\">\
         <h2>{name} <span class=\"role\">{role}</span> {badge}</h2>\
         <p class=\"muted\">epoch {epoch} · leader {leader} · term {term}{seen}</p>",
        name = esc(&r.region),
        state = state::name(r.state()),
        role = esc(role),
        badge = badge(r.state()),
        epoch = r.dr_epoch,
        leader =
            if r.leader_id == 0 { "none".to_string() } else { format!("node {}", r.leader_id) },
        term = r.term,
        seen = if r.reachable && r.observed_by != 0 {
            format!(" · as seen by node {}", r.observed_by)
        } else {
            String::new()
        },
    );
    if !r.reasons.is_empty() {
        o.push_str("<ul class=\"reasons\">");
        for reason in &r.reasons {
            let _ = write!(o, "<li>{}</li>", esc(reason));
        }
        o.push_str("</ul>");
    }
    if !r.nodes.is_empty() {
        o.push_str(
            "<table class=\"nodes\"><thead><tr><th>node</th><th>address</th><th>role</th>\
             <th>health</th><th>applied</th><th>behind</th></tr></thead><tbody>",
        );
        for n in &r.nodes {
            let reasons = if n.reachable {
                n.reasons.join("; ")
            } else {
                format!("unreachable: {}", n.error)
            };
            let _ = write!(
                o,
                "<tr data-node=\"{id}\" data-state=\"{state}\"><td>{id}{lead}</td><td>{addr}</td>\
                 <td>{role}</td><td>{badge}<div class=\"why\">{reasons}</div></td><td>{applied}</td>\
                 <td>{behind}</td></tr>",
                id = n.id,
                lead = if n.raft_role() == pb::RaftRole::Leader { " ★" } else { "" },
                addr = esc(&n.addr),
                role = esc(if n.reachable { n.raft_role().label() } else { "—" }),
                state = state::name(n.state()),
                badge = badge(n.state()),
                reasons = esc(&reasons),
                applied = n.applied_index,
                behind = n.behind_leader,
            );
        }
        o.push_str("</tbody></table>");
    }
    let standby = r.dr_role() == pb::DrRole::Standby;
    let (label, values): (&str, Vec<(u64, f64)>) = if standby {
        (
            "replication lag behind the primary (s)",
            r.lag_samples.iter().map(|s| (s.time_ns, s.lag_seconds)).collect(),
        )
    } else {
        (
            "largest follower lag (entries)",
            r.lag_samples.iter().map(|s| (s.time_ns, s.lag_entries as f64)).collect(),
        )
    };
    let _ =
        write!(o, "<figure><figcaption>{label}, up to the last {CHART_MINUTES} min</figcaption>");
    o.push_str(&chart(&values, if standby { Some(lag_threshold) } else { None }, r.time_ns));
    o.push_str("</figure></section>");
}

const CHART_MINUTES: u64 = 5;

/// A small inline SVG line chart of `(time, value)` over the last minutes up to `end` (or since
/// the first sample, when there are fewer). The scale follows the values; a threshold far above
/// them is named rather than drawn, so the line keeps its shape.
pub fn chart(values: &[(u64, f64)], threshold: Option<f64>, end: u64) -> String {
    let (w, h) = (360.0, 90.0);
    let window = Duration::from_secs(CHART_MINUTES * 60).as_nanos() as u64;
    let points: Vec<(u64, f64)> =
        values.iter().copied().filter(|(t, _)| *t >= end.saturating_sub(window)).collect();
    let Some(first) = points.first() else {
        return "<p class=\"muted chart-empty\">no samples yet</p>".into();
    };
    let start = first.0.min(end.saturating_sub(1_000_000_000));
    let span = end.saturating_sub(start).max(1) as f64;
    let top = points.iter().map(|p| p.1).fold(0.0, f64::max);
    let shown_threshold = threshold.filter(|t| *t <= top * 3.0);
    let max = top.max(shown_threshold.unwrap_or(0.0)).max(1e-9) * 1.15;
    let x = |t: u64| t.saturating_sub(start) as f64 / span * w;
    let y = |v: f64| h - v / max * (h - 16.0);
    let path: Vec<String> =
        points.iter().map(|(t, v)| format!("{:.1},{:.1}", x(*t), y(*v))).collect();
    let last = points.last().map(|p| p.1).unwrap_or(0.0);
    let seconds = span / 1e9;
    let mut s = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\" \
         aria-label=\"lag chart, latest {last:.2}\"><rect x=\"0\" y=\"0\" width=\"{w}\" \
         height=\"{h}\" class=\"bg\"/>"
    );
    match (threshold, shown_threshold) {
        (_, Some(t)) => {
            let _ = write!(
                s,
                "<line x1=\"0\" x2=\"{w}\" y1=\"{y:.1}\" y2=\"{y:.1}\" class=\"threshold\"/>\
                 <text x=\"4\" y=\"{ty:.1}\" class=\"label\">threshold {t}</text>",
                y = y(t),
                ty = (y(t) - 3.0).max(10.0),
            );
        }
        (Some(t), None) => {
            let _ = write!(
                s,
                "<text x=\"4\" y=\"12\" class=\"label\">threshold {t} (off scale)</text>"
            );
        }
        (None, None) => {}
    }
    let _ = write!(
        s,
        "<polyline points=\"{}\" class=\"line\"/><text x=\"{}\" y=\"12\" class=\"label\" \
         text-anchor=\"end\">latest {last:.2} · max {top:.2}</text><text x=\"4\" y=\"{}\" \
         class=\"label\">{}</text></svg>",
        path.join(" "),
        w - 4.0,
        h - 4.0,
        if seconds >= 120.0 {
            format!("{:.0} min", seconds / 60.0)
        } else {
            format!("{seconds:.0} s")
        },
    );
    s
}

fn incident_item(o: &mut String, i: &pb::Incident, now: Timestamp) {
    let end = if i.mitigated_ns != 0 { i.mitigated_ns } else { now.0 };
    let lasted = detect::duration_words(Duration::from_nanos(end.saturating_sub(i.started_ns)));
    let status_class = if i.status == "Active" { "unavailable" } else { "available" };
    let nodes = if i.nodes.is_empty() {
        String::new()
    } else {
        format!(" · nodes {}", i.nodes.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", "))
    };
    let _ = write!(
        o,
        "<details class=\"incident\" data-incident-id=\"{id}\" data-status=\"{status}\"{open}>\
         <summary><span class=\"badge {status_class}\">{status}</span> <b>{title}</b> \
         <span class=\"kind\">{kind}</span> <span class=\"muted\">{started} · {lasted}{pending}</span>\
         </summary><div class=\"body\"><p>{summary}</p><p class=\"muted\">id {id} · region {region}\
         {nodes} · recorded by {owner}</p><ol class=\"timeline\">",
        id = esc(&i.id),
        status = esc(&i.status),
        open = if i.status == "Active" { " open" } else { "" },
        title = esc(&i.title),
        kind = esc(&i.kind.replace('_', " ")),
        started = time(i.started_ns),
        pending = if i.pending { " · not recorded yet (no quorum)" } else { "" },
        summary = esc(&i.summary),
        region = esc(&i.region),
        owner = esc(&i.owner),
    );
    for u in i.updates.iter().rev() {
        let _ = write!(
            o,
            "<li><span class=\"muted\">{}</span> <b>{}</b> — {}</li>",
            time(u.time_ns),
            esc(&u.status),
            esc(&u.message)
        );
    }
    o.push_str("</ol></div></details>");
}

const STYLE: &str = "\
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;background:#f5f6f8;color:#1d2329}\
header{background:#1f2d3d;color:#fff;padding:12px 20px}header h1{margin:0;font-size:20px}\
header .muted{color:#c9d3de}main{padding:16px 20px}\
.regions{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:16px}\
.region,#incidents{background:#fff;border:1px solid #dde2e8;border-radius:8px;padding:12px 16px}\
#incidents{margin-top:16px}h2{font-size:17px;margin:4px 0}\
.role{font-size:12px;text-transform:uppercase;letter-spacing:.05em;color:#55606c;margin:0 6px}\
.muted{color:#66717d}.badge{display:inline-block;border-radius:10px;padding:1px 9px;font-size:12px;font-weight:600}\
.available{background:#dff4e4;color:#17632a}.degraded{background:#fff1d0;color:#7a5300}\
.unavailable{background:#fde0e0;color:#8f1b1b}.unknown{background:#e8eaed;color:#444}\
table{border-collapse:collapse;width:100%;margin:8px 0}th,td{text-align:left;padding:4px 6px;border-bottom:1px solid #eef0f3;vertical-align:top}\
th{font-size:12px;color:#55606c;font-weight:600}.why{font-size:12px;color:#66717d;max-width:260px}\
.reasons{margin:6px 0;padding-left:18px;color:#7a3b00}\
.chart .bg{fill:#fafbfc;stroke:#e3e7ec}.chart .line{fill:none;stroke:#2f6fdd;stroke-width:1.6}\
.chart .threshold{stroke:#d9534f;stroke-dasharray:4 3}.chart .label{font-size:10px;fill:#66717d}\
figure{margin:8px 0 0}figcaption{font-size:12px;color:#55606c}\
.incident{border-top:1px solid #eef0f3;padding:6px 0}.incident summary{cursor:pointer}\
.kind{font-size:12px;color:#55606c;margin:0 4px}.timeline{margin:4px 0 4px 4px;padding-left:18px}\
.timeline li{margin:2px 0}";

const SCRIPT: &str = "\
(function(){\
var auto=document.getElementById('auto');\
try{auto.checked=localStorage.getItem('twinstore-auto')!=='off';}catch(e){}\
auto.addEventListener('change',function(){try{localStorage.setItem('twinstore-auto',auto.checked?'on':'off');}catch(e){}});\
document.querySelectorAll('time[data-ns]').forEach(function(t){\
var d=new Date(Number(t.getAttribute('data-ns'))/1e6);t.textContent=d.toLocaleString();});\
try{var open=JSON.parse(sessionStorage.getItem('twinstore-open')||'[]');\
document.querySelectorAll('details.incident').forEach(function(d){\
if(open.indexOf(d.getAttribute('data-incident-id'))>=0){d.open=true;}\
d.addEventListener('toggle',function(){var ids=[];\
document.querySelectorAll('details.incident[open]').forEach(function(x){ids.push(x.getAttribute('data-incident-id'));});\
sessionStorage.setItem('twinstore-open',JSON.stringify(ids));});});}catch(e){}\
setInterval(function(){if(auto.checked){location.reload();}},5000);\
})();";

#[cfg(test)]
mod tests {
    use super::*;

    fn region(name: &str, role: pb::DrRole, s: HealthState) -> pb::RegionHealth {
        let mut r = pb::RegionHealth {
            region: name.into(),
            dr_role: role.into(),
            dr_epoch: 1,
            leader_id: 1,
            reachable: true,
            observed_by: 1,
            time_ns: 1_000_000_000_000,
            reasons: vec!["node 3 (<x>) is unreachable".into()],
            lag_samples: (0..10)
                .map(|i| pb::LagSample {
                    time_ns: 1_000_000_000_000 - (10 - i) * 1_000_000_000,
                    lag_seconds: i as f64 / 10.0,
                    lag_entries: i,
                })
                .collect(),
            ..Default::default()
        };
        r.set_state(s);
        let mut n = pb::NodeHealth {
            id: 1,
            addr: "http://a".into(),
            reachable: true,
            raft_role: pb::RaftRole::Leader.into(),
            ..Default::default()
        };
        n.set_state(HealthState::Available);
        r.nodes.push(n);
        r
    }

    #[test]
    fn renders_regions_nodes_charts_and_incidents_escaped() {
        let regions = [
            region("west", pb::DrRole::Primary, HealthState::Degraded),
            region("east", pb::DrRole::Standby, HealthState::Available),
        ];
        let incident = pb::Incident {
            id: "west-2-1".into(),
            title: "twinstore - west - Active".into(),
            kind: "node_down".into(),
            region: "west".into(),
            nodes: vec![3],
            owner: "west".into(),
            started_ns: 990_000_000_000,
            status: "Active".into(),
            summary: "node 3 <down>".into(),
            updates: vec![pb::IncidentUpdate {
                time_ns: 990_000_000_000,
                status: "Active".into(),
                message: "node 3 is unreachable".into(),
            }],
            version: 1,
            ..Default::default()
        };
        let html = document(1, "west", &regions, &[incident], 30.0, Timestamp(1_000_000_000_000));
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("data-region=\"west\" data-state=\"Degraded\""));
        assert!(html.contains("data-region=\"east\""));
        assert!(html.contains("data-node=\"1\""));
        assert!(html.contains("data-incident-id=\"west-2-1\""));
        assert!(html.contains("node 3 &lt;down&gt;"));
        assert!(html.contains("(&lt;x&gt;)"));
        assert_eq!(html.matches("<svg").count(), 2);
        assert!(html.contains("threshold 30 (off scale)"), "the standby chart names the threshold");
        assert!(!html.contains("http://") || !html.contains("src=\"http"), "no external assets");
        assert!(!html.contains("<script src"));
    }

    #[test]
    fn an_empty_chart_says_so() {
        assert!(chart(&[], Some(1.0), 100).contains("no samples yet"));
    }
}
