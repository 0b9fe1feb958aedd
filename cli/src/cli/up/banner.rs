//! `twinstore up`'s banner: what was started, where, and what to type next.

use super::{CATCH_UP_TIMEOUT, ChildNode, Loaded, Ready, RegionSpec, Secured, http_addr};
use crate::cli::dr;
use crate::cli::output::out;
use twinstore::pb::DrRole;

pub(super) fn print(
    regions: &[RegionSpec],
    nodes: &[ChildNode],
    loaded: &Loaded,
    ready: &Ready,
    secured: Option<&Secured>,
) {
    out(&format!(
        "sample graph loaded into region {}: {} models ({} new), {} twins, {} relationships",
        ready.primary, loaded.models, loaded.new_models, loaded.twins, loaded.relationships
    ));
    if let Some(overview) = &ready.dr {
        match &ready.lagging {
            None => {
                let standby = overview.standby_region().unwrap_or_default();
                let at = overview
                    .region_view(&standby)
                    .map(|(_, s)| format!("{}:{}", s.replicated_epoch, s.replicated_index))
                    .unwrap_or_default();
                out(&format!(
                    "region {standby} has caught up (it holds the primary's log up to {at})"
                ));
            }
            Some(last) => out(&format!(
                "the standby has not caught up within {CATCH_UP_TIMEOUT:?}: {last} (see `twinstore dr status`)"
            )),
        }
    }
    out("");
    for region in regions {
        let members: Vec<&ChildNode> =
            nodes.iter().filter(|n| n.spec.region == region.name).collect();
        let role = ready
            .dr
            .as_ref()
            .and_then(|o| o.region_view(&region.name))
            .map(|(_, s)| match s.role() {
                DrRole::Primary => format!(" (the primary, epoch {})", s.epoch),
                _ => format!(" (standby of {})", s.peer_region),
            })
            .unwrap_or_default();
        out(&format!(
            "twinstore is up: region {}{role} with {} node(s)",
            region.name,
            members.len()
        ));
        for n in members {
            out(&format!(
                "  {}  {}  pid {}  data {}  status page {}://{}/",
                n.spec.name,
                n.endpoint,
                n.pid,
                n.spec.data.display(),
                if n.spec.tls.is_some() { "https" } else { "http" },
                http_addr(n.spec.listen)
            ));
        }
    }
    let endpoints: Vec<&str> = nodes.iter().map(|n| n.endpoint.as_str()).collect();
    let endpoint = endpoints.join(",");
    out(&format!("endpoint: {endpoint}"));
    out("");
    if let Some(overview) = &ready.dr {
        out("DR status (twinstore dr status):");
        for line in dr::status_lines(overview) {
            out(&format!("  {line}"));
        }
        out("");
    }
    out("Raft status (twinstore cluster status):");
    for line in ready.cluster.table() {
        out(&format!("  {line}"));
    }
    out("");
    out("In another terminal:");
    out(&format!("  export TWINSTORE_ENDPOINT={endpoint}"));
    if let Some(s) = secured {
        out(&format!("  export TWINSTORE_CA={}", s.ca.display()));
        out(&format!("  export TWINSTORE_TOKEN={}", s.token));
    }
    out("  twinstore twin get room-101");
    out("  twinstore rel list floor-1");
    out(
        "  twinstore twin patch room-101 '[{\"op\":\"replace\",\"path\":\"/temperature\",\"value\":23.5}]'",
    );
    out("  twinstore cluster status");
    if ready.dr.is_some() {
        out("  twinstore dr status");
        out(
            "  twinstore dr failover --planned     # and again to fail back; scripts/dr-drill.sh does both under load",
        );
        if let Some(n) = nodes.iter().find(|n| n.spec.region != ready.primary) {
            out(&format!(
                "  twinstore --endpoint {} twin get room-101 --consistency local   # from the standby",
                n.endpoint
            ));
        }
    }
    out("  twinstore bench --workload put --clients 16 --total 5000");
    if let Some(n) = nodes.first() {
        out(&format!(
            "  kill -9 <a node's pid>    # e.g. {} (pid {}): the region keeps serving",
            n.spec.name, n.pid
        ));
    }
    if let Some(s) = secured {
        out(&format!(
            "  twinstore token issue --key {} --role DataReader --ttl 1h   # another token (the one above is Admin, for {} h)",
            s.signing_key.display(),
            super::tls::TOKEN_TTL.as_secs() / 3600
        ));
    }
    out("");
    out("Press Ctrl-C to stop.");
}
