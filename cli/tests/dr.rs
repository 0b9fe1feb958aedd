//! Integration tests of cross-region DR: two regions in-process on 127.0.0.1, log shipping,
//! planned and forced failover, fencing, reprotect, reseed. Every wait is bounded.

mod common;

use common::region::{RPC_TIMEOUT, Region, timed_channel};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tonic::transport::Channel;
use twinstore::client::FailoverKind;
use twinstore::model::time::Timestamp;
use twinstore::pb;
use twinstore::pb::dr_service_client::DrServiceClient;
use twinstore::pb::model_service_client::ModelServiceClient;
use twinstore::pb::twin_service_client::TwinServiceClient;
use twinstore::raft::network::Delay;
use twinstore::storage::dr::Role;
use twinstore::storage::{Command, Op, codec};

const MODEL: &str = r#"[{"@id": "dtmi:dr:Device;1", "@type": "Interface", "@context": "dtmi:dtdl:context;3",
  "contents": [{"@type": "Property", "name": "n", "schema": "integer"},
                {"@type": "Property", "name": "b0", "schema": "string"},
                {"@type": "Property", "name": "b1", "schema": "string"},
                {"@type": "Property", "name": "b2", "schema": "string"},
                {"@type": "Property", "name": "b3", "schema": "string"},
                {"@type": "Property", "name": "b4", "schema": "string"},
                {"@type": "Property", "name": "b5", "schema": "string"}]}]"#;

fn channel(addr: &str) -> Channel {
    timed_channel(addr, RPC_TIMEOUT)
}

/// What the DR tests ask of a region, beyond the shared harness.
impl Region {
    /// Node `i`'s DR status; `None` when it is down or does not answer.
    async fn dr(&self, i: usize) -> Option<pb::DrStatusResponse> {
        self.nodes[i].as_ref()?;
        DrServiceClient::new(channel(&self.addrs[i]))
            .dr_status(pb::DrStatusRequest {})
            .await
            .ok()
            .map(|r| r.into_inner())
    }

    /// Waits until the region's DR status (on its leader) satisfies `f`.
    async fn wait_dr(
        &self,
        what: &str,
        f: impl Fn(&pb::DrStatusResponse) -> bool,
    ) -> pb::DrStatusResponse {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut last = None;
        while Instant::now() < deadline {
            for i in self.live() {
                if let Some(s) = self.dr(i).await
                    && s.leader
                {
                    if f(&s) {
                        return s;
                    }
                    last = Some(s);
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("region {}: timed out waiting for {what}; last status {last:?}", self.name);
    }

    /// A twin client of node `i`.
    fn twins(&self, i: usize) -> TwinServiceClient<Channel> {
        TwinServiceClient::new(channel(&self.addrs[i]))
    }
}

/// A primary region and its standby, each of `n` nodes.
async fn pair(n: usize) -> (Region, Region) {
    pair_with(n, None).await
}

/// A pair whose log shipping crosses a WAN of `wan_delay` (injected in the standby's nodes).
async fn pair_with(n: usize, wan_delay: Option<Delay>) -> (Region, Region) {
    let mut p = Region::new("west", n, Role::Primary, "east");
    let mut s = Region::new("east", n, Role::Standby, "west");
    s.wan_delay = wan_delay;
    p.peer = s.addrs.clone();
    s.peer = p.addrs.clone();
    p.start_all().await;
    s.start_all().await;
    s.wait_dr("a standby role", |d| d.role() == pb::DrRole::Standby).await;
    (p, s)
}

async fn add_model(r: &Region) {
    let i = r.live()[0];
    ModelServiceClient::new(channel(&r.addrs[i]))
        .add_models(pb::AddModelsRequest { models_json: MODEL.into(), options: None })
        .await
        .unwrap();
}

fn device(n: i64) -> String {
    json!({"$metadata": {"$model": "dtmi:dr:Device;1"}, "n": n}).to_string()
}

/// Writes `id`; returns the primary's log index of the write.
async fn put(c: &mut TwinServiceClient<Channel>, id: &str, n: i64) -> Result<u64, tonic::Status> {
    c.put_twin(pb::PutTwinRequest { id: id.into(), twin_json: device(n), options: None })
        .await
        .map(|r| r.into_inner().index)
}

/// Writes `id` as a twin of about 24 KiB (six strings of 4,000 bytes, the most a string may have;
/// a twin may have 32 KiB).
async fn put_large(
    c: &mut TwinServiceClient<Channel>,
    id: &str,
    n: i64,
) -> Result<u64, tonic::Status> {
    let mut twin = json!({"$metadata": {"$model": "dtmi:dr:Device;1"}, "n": n});
    for b in 0..6 {
        twin[format!("b{b}")] = json!(format!("{n:08}").repeat(500));
    }
    c.put_twin(pb::PutTwinRequest { id: id.into(), twin_json: twin.to_string(), options: None })
        .await
        .map(|r| r.into_inner().index)
}

async fn get_local(c: &mut TwinServiceClient<Channel>, id: &str) -> Option<String> {
    let options = Some(pb::ReadOptions { consistency: pb::Consistency::Local as i32 });
    c.get_twin(pb::GetTwinRequest { id: id.into(), options })
        .await
        .ok()
        .map(|r| r.into_inner().twin_json)
}

fn code(s: &tonic::Status) -> String {
    s.metadata().get("x-ms-error-code").and_then(|v| v.to_str().ok()).unwrap_or("").to_string()
}

/// Waits until every live node of both regions holds the same data.
async fn wait_identical(a: &Region, b: &Region) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut all = a.fingerprints();
        all.extend(b.fingerprints());
        if all.len() == 1 {
            return;
        }
        if Instant::now() >= deadline {
            for r in [a, b] {
                for i in r.live() {
                    eprintln!("{} node {}: {:?}", r.name, i + 1, r.dr(i).await);
                }
            }
            panic!("the regions did not converge: {all:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standby_follows_the_primary_and_becomes_identical() {
    let (p, s) = pair(3).await;
    add_model(&p).await;
    let mut writers = Vec::new();
    for w in 0..3 {
        let mut c = p.twins(w);
        writers.push(tokio::spawn(async move {
            for n in 0..60 {
                put(&mut c, &format!("w{w}-{n}"), n).await.unwrap();
            }
        }));
    }
    // While the load runs, the standby keeps up within a bounded lag.
    let mut worst = 0;
    while !writers.iter().all(|w| w.is_finished()) {
        if let Some(st) = s.dr(s.wait_leader().await).await {
            worst = worst.max(st.lag_entries);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for w in writers {
        w.await.unwrap();
    }
    assert!(worst < 2000, "the standby fell {worst} entries behind");
    wait_identical(&p, &s).await;
    // Byte-identical documents and ETags in both regions; the standby says how fresh it is.
    let mut pc = p.twins(0);
    let mut sc = s.twins(1);
    assert_eq!(
        get_local(&mut pc, "w1-7").await.unwrap(),
        get_local(&mut sc, "w1-7").await.unwrap()
    );
    let options = Some(pb::ReadOptions { consistency: pb::Consistency::Local as i32 });
    let read = sc
        .get_twin(pb::GetTwinRequest { id: "w1-7".into(), options })
        .await
        .unwrap()
        .into_inner()
        .read
        .unwrap();
    assert!(read.standby && read.region == "east" && read.replicated_index > 0, "{read:?}");
    // Its staleness is measured from the primary's time of what the standby holds (dr::status).
    assert!(read.replicated_time_ns > 0, "{read:?}");
    assert!((0.0..30_000.0).contains(&read.staleness_ms), "{read:?}");
    let st = s.wait_dr("caught up", |d| d.lag_entries == 0 && d.replicated_time_ns > 0).await;
    assert!(st.lag_samples > 0 && st.lag_p99_ms > 0.0);
    // The standby refuses writes and names the primary.
    let e = put(&mut sc, "x", 1).await.unwrap_err();
    assert_eq!(code(&e), "ReadOnlyRegion");
    assert!(e.message().contains(p.addrs[0].as_str()), "{e}");
    p.shutdown().await;
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planned_failover_loses_nothing_reverses_shipping_and_fails_back() {
    let (p, s) = pair(3).await;
    add_model(&p).await;
    // A writer that follows the primary: on ReadOnlyRegion / Unavailable it tries the other region.
    let regions = [p.addrs.clone(), s.addrs.clone()];
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let writer = tokio::spawn(async move {
        let mut acked = Vec::new();
        let mut region = 0;
        let mut n = 0;
        let mut pause = Duration::ZERO;
        let mut last_ok = Instant::now();
        while !stop2.load(std::sync::atomic::Ordering::Relaxed) && n < 100_000 {
            let mut c = TwinServiceClient::new(channel(&regions[region][0]));
            match put(&mut c, &format!("t{n}"), n).await {
                Ok(_) => {
                    pause = pause.max(last_ok.elapsed());
                    last_ok = Instant::now();
                    acked.push(format!("t{n}"));
                    n += 1;
                }
                Err(_) => {
                    region = 1 - region;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }
        (acked, pause)
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    let started = Instant::now();
    let resp = DrServiceClient::new(channel(&s.addrs[2]))
        .failover(pb::FailoverRequest { planned: true })
        .await
        .unwrap()
        .into_inner();
    let took = started.elapsed();
    assert_eq!(resp.epoch, 2);
    assert_eq!(resp.region, "east");
    assert!(resp.write_pause_ms < 2000.0, "write pause {} ms", resp.write_pause_ms);
    tokio::time::sleep(Duration::from_millis(700)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (acked, pause) = writer.await.unwrap();
    assert!(acked.len() > 20, "{} writes", acked.len());
    eprintln!(
        "planned failover took {took:?}, server-side pause {} ms, client-seen pause {pause:?}",
        resp.write_pause_ms
    );
    // The old primary is now the standby and follows the new primary.
    p.wait_dr("west to be a standby", |d| d.role() == pb::DrRole::Standby && d.epoch == 2).await;
    wait_identical(&p, &s).await;
    for id in &acked {
        let mut c = s.twins(0);
        assert!(get_local(&mut c, id).await.is_some(), "acknowledged write {id} lost");
    }
    let mut old = p.twins(1);
    assert_eq!(code(&put(&mut old, "late", 1).await.unwrap_err()), "ReadOnlyRegion");

    // Fail back: a planned failover the other way.
    let back = DrServiceClient::new(channel(&p.addrs[0]))
        .failover(pb::FailoverRequest { planned: true })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(back.epoch, 3);
    assert_eq!(back.region, "west");
    let mut c = p.twins(0);
    put(&mut c, "after-failback", 1).await.unwrap();
    wait_identical(&p, &s).await;
    p.shutdown().await;
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forced_failover_then_the_old_primary_is_fenced_and_reprotected() {
    let (mut p, mut s) = pair(1).await;
    add_model(&p).await;
    let mut c = p.twins(0);
    let mut acked = Vec::new();
    for n in 0..20 {
        acked.push((format!("a{n}"), put(&mut c, &format!("a{n}"), n).await.unwrap()));
    }
    s.wait_dr("caught up", |d| d.replicated_index >= acked.last().unwrap().1).await;
    // The standby stops hearing from the primary (its node is down), the primary takes more writes.
    s.kill_all().await;
    for n in 20..30 {
        acked.push((format!("a{n}"), put(&mut c, &format!("a{n}"), n).await.unwrap()));
    }
    // The primary region is lost; the standby comes back and is promoted by force.
    p.kill_all().await;
    s.start_all().await;
    let started = Instant::now();
    let resp = DrServiceClient::new(channel(&s.addrs[0]))
        .failover(pb::FailoverRequest { planned: false })
        .await
        .unwrap()
        .into_inner();
    let mut sc = s.twins(0);
    put(&mut sc, "first-after-failover", 1).await.unwrap();
    let promotion = started.elapsed();
    assert!(promotion < Duration::from_secs(5), "forced promotion took {promotion:?}");
    assert_eq!(resp.epoch, 2);
    // Every write up to the reported position is there, none after it.
    for (id, index) in &acked {
        let present = get_local(&mut sc, id).await.is_some();
        assert_eq!(
            present,
            *index <= resp.promoted_at_index,
            "{id} at {index}, promoted at {}",
            resp.promoted_at_index
        );
    }
    let lost = acked.iter().filter(|(_, i)| *i > resp.promoted_at_index).count() as u64;
    assert_eq!(lost, 10);

    // The old primary comes back: it learns of epoch 2 and refuses writes.
    p.start_all().await;
    p.wait_dr("the old primary to fence itself", |d| {
        d.role() == pb::DrRole::Standby && d.epoch == 2
    })
    .await;
    let mut pc = p.twins(0);
    assert_eq!(code(&put(&mut pc, "split-brain", 1).await.unwrap_err()), "ReadOnlyRegion");
    // Reprotect: its divergent writes are kept aside and it becomes the new primary's standby.
    let r = DrServiceClient::new(channel(&p.addrs[0]))
        .reprotect(pb::ReprotectRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.divergent_writes, lost);
    let div = DrServiceClient::new(channel(&p.addrs[0]))
        .divergent(pb::DivergentRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(div.write_json.len() as u64, lost);
    let first: Value = serde_json::from_str(&div.write_json[0]).unwrap();
    assert_eq!(first["op"], "put_twin");
    put(&mut sc, "after-reprotect", 2).await.unwrap();
    wait_identical(&p, &s).await;
    assert!(get_local(&mut pc, "after-reprotect").await.is_some());
    assert!(get_local(&mut pc, "a25").await.is_none(), "divergent writes are not in the graph");
    p.shutdown().await;
    s.shutdown().await;
}

/// Regression (scripts/chaos/region-outage.sh with the old region down for minutes): a reseed was
/// one raft entry holding the whole snapshot. Once the new primary's graph had grown to megabytes,
/// the old primary's raft group could not replicate that entry within openraft's AppendEntries
/// timeout (one heartbeat interval): its followers never caught up, stopped hearing from the
/// leader, campaigned, and reprotect failed with NotLeader again and again. A snapshot now goes in
/// parts, and one AppendEntries carries about 1 MiB of entries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_primary_of_three_nodes_is_reprotected_from_a_graph_of_megabytes() {
    let (mut p, s) = pair(3).await;
    add_model(&p).await;
    let mut c = p.twins(0);
    for n in 0..20 {
        put_large(&mut c, &format!("b{n}"), n).await.unwrap();
    }
    wait_identical(&p, &s).await;
    p.kill_all().await;
    DrServiceClient::new(channel(&s.addrs[0]))
        .failover(pb::FailoverRequest { planned: false })
        .await
        .unwrap();
    // The new primary's graph grows to about 10 MiB while the old region is down.
    let mut sc = s.twins(0);
    for n in 20..440 {
        put_large(&mut sc, &format!("b{n}"), n).await.unwrap();
    }
    p.start_all().await;
    p.wait_dr("the old primary to fence itself", |d| {
        d.role() == pb::DrRole::Standby && d.epoch == 2
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let reprotected = loop {
        let i = p.wait_leader().await;
        match DrServiceClient::new(channel(&p.addrs[i])).reprotect(pb::ReprotectRequest {}).await {
            Ok(r) => break r.into_inner(),
            Err(e) if Instant::now() < deadline => {
                eprintln!("reprotect: {e}; again");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => panic!("no reprotect within 60 s: {e}"),
        }
    };
    assert_eq!(reprotected.reseeded_epoch, 2);
    // Every node of the old region holds the new primary's graph, and follows it from there.
    put(&mut sc, "after-reprotect", 1).await.unwrap();
    wait_identical(&p, &s).await;
    assert_eq!(p.fingerprints().len(), 1);
    p.shutdown().await;
    s.shutdown().await;
}

/// A reseed cut short (its leader died after part 0, say) leaves the standby with part of a
/// graph: until a whole reseed has replaced it, the standby refuses reads and promotion, and its
/// shipper starts the reseed again by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reseed_cut_short_refuses_reads_and_promotion_until_it_is_done_again() {
    let (p, s) = pair(1).await;
    add_model(&p).await;
    let mut c = p.twins(0);
    for n in 0..10 {
        put(&mut c, &format!("c{n}"), n).await.unwrap();
    }
    wait_identical(&p, &s).await;
    let standby = s.nodes[0].as_ref().unwrap();
    let mut sc = s.twins(0);
    assert!(get_local(&mut sc, "c3").await.is_some());
    // The standby cannot reach the primary; part 0 of 3 of a reseed is applied, and no more.
    for a in &p.addrs {
        standby.faults().block(a);
    }
    let dr = standby.store().dr().unwrap();
    let part = Op::Reseed {
        position: dr.upstream,
        time: dr.replicated_time,
        part: 0,
        parts: 3,
        data: codec::encode(&Vec::<(Vec<u8>, Vec<u8>)>::new()).unwrap(),
    };
    let cmd =
        Command { request: None, time: Timestamp::now(), epoch: dr.epoch, origin: None, op: part };
    standby.raft().client_write(cmd).await.unwrap().data.unwrap();
    let options = Some(pb::ReadOptions { consistency: pb::Consistency::Local as i32 });
    let refused = sc.get_twin(pb::GetTwinRequest { id: "c3".into(), options }).await.unwrap_err();
    assert_eq!(code(&refused), "Unavailable", "{refused:?}");
    assert!(refused.message().contains("being reseeded"), "{refused:?}");
    let failover = DrServiceClient::new(channel(&s.addrs[0]))
        .failover(pb::FailoverRequest { planned: false })
        .await
        .unwrap_err();
    assert!(failover.message().contains("being reseeded"), "{failover:?}");
    // The link is back: the shipper reseeds the standby whole, and it follows on.
    standby.faults().heal();
    wait_identical(&p, &s).await;
    assert!(get_local(&mut sc, "c3").await.is_some());
    put(&mut c, "after", 1).await.unwrap();
    wait_identical(&p, &s).await;
    assert!(get_local(&mut sc, "after").await.is_some());
    p.shutdown().await;
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wan_delay_adds_latency_to_shipping_but_loses_and_reorders_nothing() {
    let delay = Delay { base: Duration::from_millis(120), jitter: Duration::from_millis(20) };
    let (p, s) = pair_with(3, Some(delay)).await;
    add_model(&p).await;
    let mut writers = Vec::new();
    for w in 0..2 {
        let mut c = p.twins(w);
        writers.push(tokio::spawn(async move {
            for n in 0..40 {
                put(&mut c, &format!("w{w}-{n}"), n).await.unwrap();
                put(&mut c, "shared", n + 100 * w as i64).await.unwrap();
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    // Every batch was held at least base - jitter, so no write reached the standby sooner; the
    // standby still ends byte-identical (nothing lost, nothing applied out of order).
    let st = s.wait_dr("caught up", |d| d.lag_entries == 0 && d.lag_samples > 0).await;
    assert!(st.lag_p50_ms >= 100.0, "lag p50 {} ms under a 120 ± 20 ms WAN", st.lag_p50_ms);
    wait_identical(&p, &s).await;
    // Healing the fault takes the delay away (the next stream is direct).
    for n in s.nodes.iter().flatten() {
        n.faults().heal();
    }
    p.shutdown().await;
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_shipper_resumes_without_gap_or_double_apply() {
    let (p, mut s) = pair(3).await;
    add_model(&p).await;
    let mut c = p.twins(0);
    let writer = tokio::spawn(async move {
        for n in 0..150 {
            put(&mut c, &format!("k{n}"), n).await.unwrap();
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Kill the standby's leader (which runs the shipper) mid-stream, then bring it back.
    let leader = s.wait_leader().await;
    s.kill(leader).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    s.start(leader).await;
    writer.await.unwrap();
    wait_identical(&p, &s).await;
    p.shutdown().await;
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_standby_of_a_purged_primary_is_seeded_from_a_snapshot() {
    let mut p = Region::new("west", 1, Role::Primary, "east");
    p.snapshot_logs = 20;
    p.start_all().await;
    add_model(&p).await;
    let mut c = p.twins(0);
    for n in 0..200 {
        put(&mut c, &format!("r{n}"), n).await.unwrap();
    }
    let mut s = Region::new("east", 1, Role::Standby, "west");
    s.peer = p.addrs.clone();
    s.start_all().await;
    wait_identical(&p, &s).await;
    let st = s.wait_dr("shipping", |d| d.replicated_index > 0).await;
    assert!(st.replicated_index >= 200);
    // And it keeps following after the seed.
    put(&mut c, "after-seed", 1).await.unwrap();
    wait_identical(&p, &s).await;
    p.shutdown().await;
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_far_behind_the_retention_bound_is_reseeded() {
    let mut p = Region::new("west", 1, Role::Primary, "east");
    let mut s = Region::new("east", 1, Role::Standby, "west");
    p.peer = s.addrs.clone();
    s.peer = p.addrs.clone();
    p.snapshot_logs = 20;
    p.max_retained = 30;
    p.start_all().await;
    s.start_all().await;
    add_model(&p).await;
    let mut c = p.twins(0);
    put(&mut c, "before", 1).await.unwrap();
    wait_identical(&p, &s).await;
    // The standby is down while the primary writes far past what it keeps for it.
    s.kill_all().await;
    for n in 0..300 {
        put(&mut c, &format!("f{n}"), n).await.unwrap();
    }
    let st = p.wait_dr("the log to be purged past the bound", |d| d.retained_from > 100).await;
    assert!(st.standby_confirmed < st.retained_from, "{st:?}");
    s.start_all().await;
    wait_identical(&p, &s).await;
    put(&mut c, "after", 1).await.unwrap();
    wait_identical(&p, &s).await;
    p.shutdown().await;
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_library_refuses_a_forced_failover_while_the_primary_answers() {
    // The safety check lives in the library, so every caller gets it, not only the CLI.
    let (p, s) = pair(1).await;
    let client = twinstore::client::Client::new(p.addrs.iter().chain(&s.addrs)).unwrap();
    let forced = FailoverKind::Forced { even_if_primary_answers: false };
    let e = client.failover(forced).await.unwrap_err();
    assert_eq!(e.code, Some(twinstore::error::ErrorCode::OperationNotAllowed), "{e:?}");
    assert!(e.message.contains("'west' still answers"), "{}", e.message);
    // Nothing changed: west is still the primary at epoch 1, east its standby.
    p.wait_dr("west still primary", |d| d.role() == pb::DrRole::Primary && d.epoch == 1).await;
    s.wait_dr("east still standby", |d| d.role() == pb::DrRole::Standby && d.epoch == 1).await;
    // Forced on purpose, it goes through.
    let forced = FailoverKind::Forced { even_if_primary_answers: true };
    let outcome = client.failover(forced).await.unwrap();
    assert_eq!((outcome.region.as_str(), outcome.report.epoch), ("east", 2));
    assert_eq!(outcome.old_primary.as_deref(), Some("west"));
    p.shutdown().await;
    s.shutdown().await;
}
