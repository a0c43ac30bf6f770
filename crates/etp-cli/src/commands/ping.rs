//! `etp ping`: ETP Ping/Pong round trips, reported like ping(8).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use etp_client::{Client, ClientError};

use crate::cli::{PingArgs, seconds};

/// Round-trip statistics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// Pings sent.
    pub sent: u64,
    /// Round-trip times of the pongs received, milliseconds.
    pub rtts_ms: Vec<f64>,
}

impl Stats {
    /// `N sent, M received, X% loss, time T ms`.
    pub fn summary(&self, elapsed: Duration) -> String {
        let received = self.rtts_ms.len() as u64;
        let loss = if self.sent == 0 {
            0.0
        } else {
            (self.sent - received.min(self.sent)) as f64 * 100.0 / self.sent as f64
        };
        format!(
            "{} sent, {} received, {}% loss, time {}ms",
            self.sent,
            received,
            format_percent(loss),
            elapsed.as_millis()
        )
    }

    /// `rtt min/avg/max/mdev = a/b/c/d ms`, or `None` without any reply.
    pub fn rtt_line(&self) -> Option<String> {
        if self.rtts_ms.is_empty() {
            return None;
        }
        let n = self.rtts_ms.len() as f64;
        let min = self.rtts_ms.iter().copied().fold(f64::INFINITY, f64::min);
        let max = self
            .rtts_ms
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        let avg = self.rtts_ms.iter().sum::<f64>() / n;
        let mean_sq = self.rtts_ms.iter().map(|x| x * x).sum::<f64>() / n;
        let mdev = (mean_sq - avg * avg).max(0.0).sqrt();
        Some(format!(
            "rtt min/avg/max/mdev = {min:.3}/{avg:.3}/{max:.3}/{mdev:.3} ms"
        ))
    }
}

fn format_percent(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

/// Connects, pings COUNT times (or until Ctrl-C), prints the summary. Fails when no Pong
/// came back at all.
pub async fn run(args: PingArgs) -> anyhow::Result<ExitCode> {
    let interval = seconds(args.interval, "--interval")?;
    let timeout = seconds(args.timeout, "--timeout")?;
    let config = args.client.client_config()?;
    let url = config.url.clone();
    let client = Client::connect(config)
        .await
        .with_context(|| format!("cannot open an ETP session with {url}"))?;
    println!(
        "PING {url}: session {} with {} {}",
        client.session_id(),
        client.session().application_name,
        client.session().application_version
    );

    let mut stats = Stats::default();
    let start = Instant::now();
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    let mut seq: u64 = 0;
    loop {
        if args.count.is_some_and(|c| seq >= c) {
            break;
        }
        seq += 1;
        stats.sent += 1;
        let round = Instant::now();
        tokio::select! {
            result = client.ping_with_timeout(timeout) => match result {
                Ok(rtt) => {
                    let ms = rtt.as_secs_f64() * 1000.0;
                    stats.rtts_ms.push(ms);
                    println!("pong from {url}: seq={seq} time={ms:.3} ms");
                }
                Err(ClientError::Timeout(_)) => println!("no pong from {url}: seq={seq} timed out"),
                Err(e) => {
                    eprintln!("ping seq={seq} failed: {e}");
                    if client.is_closed() {
                        break;
                    }
                }
            },
            _ = &mut interrupted => {
                stats.sent -= 1;
                break;
            }
        }
        if args.count.is_some_and(|c| seq >= c) {
            break;
        }
        let pause = interval.saturating_sub(round.elapsed());
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            _ = &mut interrupted => break,
        }
    }
    let elapsed = start.elapsed();
    println!();
    println!("--- {url} ETP ping statistics ---");
    println!("{}", stats.summary(elapsed));
    if let Some(line) = stats.rtt_line() {
        println!("{line}");
    }
    if !client.is_closed() {
        let _ = client.close("etp ping done").await;
    }
    Ok(if stats.rtts_ms.is_empty() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_like_ping8() {
        let s = Stats {
            sent: 4,
            rtts_ms: vec![1.0, 2.0, 3.0],
        };
        assert_eq!(
            s.summary(Duration::from_millis(3004)),
            "4 sent, 3 received, 25% loss, time 3004ms"
        );
        assert_eq!(
            s.rtt_line().unwrap(),
            "rtt min/avg/max/mdev = 1.000/2.000/3.000/0.816 ms"
        );
        let none = Stats {
            sent: 3,
            rtts_ms: vec![],
        };
        assert_eq!(
            none.summary(Duration::ZERO),
            "3 sent, 0 received, 100% loss, time 0ms"
        );
        assert!(none.rtt_line().is_none());
        let third = Stats {
            sent: 3,
            rtts_ms: vec![1.0, 1.0],
        };
        assert!(third.summary(Duration::ZERO).contains("33.3% loss"));
    }
}
