//! `--wait`: follows a cluster operation to its end with a live progress line on stderr
//! (status, nodes ready of total, elapsed), and turns the end into the exit code.

use anyhow::bail;
use magnum_client::Client;
use serde_json::Value;
use std::io::Write;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    /// CREATE_COMPLETE / UPDATE_COMPLETE.
    Complete,
    /// The cluster no longer exists.
    Gone,
}

/// Nodes the conductor has seen Ready, of the cluster's total.
async fn ready(c: &Client, uuid: &str, total: i64) -> String {
    let nodes = c.get(&format!("/v1/nodes?bay_ident={uuid}&limit=1000")).await.ok().map(|r| r.body);
    let ready = nodes.and_then(|b| b["nodes"].as_array().map(|n| n.iter().filter(|x| x["status"] == "Ready").count())).unwrap_or(0);
    format!("nodes ready {ready}/{total}")
}

/// Polls until the goal (Ok, with the last view of the cluster) or a *_FAILED (Err, with the
/// reason).
pub async fn settle(c: &Client, cluster: &str, goal: Goal) -> anyhow::Result<Value> {
    let started = Instant::now();
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut last_line = String::new();
    loop {
        let r = c.get(&format!("/v1/clusters/{cluster}")).await?;
        if r.status == 404 && goal == Goal::Gone {
            eprintln!("{}cluster {cluster} deleted after {:.1} s", if tty { "\r\x1b[2K" } else { "" }, started.elapsed().as_secs_f64());
            return Ok(Value::Null);
        }
        if r.status != 200 {
            bail!("reading cluster {cluster} failed (HTTP {}): {}", r.status, r.error_detail().unwrap_or(&r.text));
        }
        let status = r.body["status"].as_str().unwrap_or_default().to_owned();
        let total = r.body["node_count"].as_i64().unwrap_or(0) + r.body["master_count"].as_i64().unwrap_or(0);
        // An external bay's size is its owner's: its counts are not what magnum waits for.
        let nodes = if r.body["external"] == true { "external".to_owned() } else { ready(c, cluster, total).await };
        let line =
            format!("{} {status}  {nodes}  elapsed {:.0} s", r.body["name"].as_str().unwrap_or(cluster), started.elapsed().as_secs_f64());
        if tty {
            eprint!("\r\x1b[2K{line}");
            let _ = std::io::stderr().flush();
        } else if line.split("elapsed").next() != last_line.split("elapsed").next() {
            eprintln!("{line}");
        }
        last_line = line;
        if status.ends_with("_FAILED") {
            if tty {
                eprintln!();
            }
            bail!("cluster {cluster} is {status}: {}", r.body["status_reason"].as_str().unwrap_or("no reason given"));
        }
        if goal == Goal::Complete && status.ends_with("_COMPLETE") {
            if tty {
                eprintln!();
            }
            return Ok(r.body);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
