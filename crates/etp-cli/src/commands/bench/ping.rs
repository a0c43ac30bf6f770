//! ETP Ping/Pong: latency with one session, throughput with 1, 16 and 64 sessions (one
//! round trip at a time per session), and with many requests in flight on one session.
//!
//! The baseline echoes a message of the size of an encoded Ping over the bare WebSocket
//! stack, with the same number of connections and the same number in flight.

use std::sync::Arc;
use std::time::Duration;

use etp_client::Client;
use etp_protocol::message::{Compression, encode_message, flags};
use etp_protocol::types::Body;
use etp_protocol::types::datatypes::MessageHeader;
use etp_protocol::types::protocol::core::Ping;

use super::Env;
use super::baseline::{BareClient, Limit, Traffic};
use super::report::{Better, Report, Series, percentile};
use super::util;

/// Session counts of the throughput figures.
const SESSIONS: [usize; 3] = [1, 16, 64];
/// Requests in flight on one session (the server's default `max_requests_in_flight`).
const PIPELINED: usize = 64;
/// Round trips the latency figure needs at least, whatever the duration.
const MIN_SAMPLES: usize = 200;

/// Size of an encoded Ping message with realistic ids: the bare echo uses the same.
fn ping_message_len() -> usize {
    let header = MessageHeader {
        protocol: 0,
        message_type: 8,
        correlation_id: 0,
        message_id: 1_000_002,
        message_flags: flags::FIN,
    };
    let body: Body = Ping {
        current_date_time: etp_protocol::now_micros(),
    }
    .into();
    let mut out = Vec::new();
    encode_message(&header, None, &body, Compression::None, &mut out);
    out.len()
}

/// Measures every figure `--runs` times.
pub async fn run(env: &Env, report: &mut Report) -> anyhow::Result<()> {
    let settings = &env.settings;
    let len = ping_message_len();
    let echo_note = format!("bare baseline: {len}-byte echo, the size of an encoded Ping");
    let mut p50 = Series::new(
        "ping",
        "latency_p50",
        "Ping/Pong latency p50, 1 session",
        "µs",
        Better::Lower,
    )
    .baseline("bare.echo_p50", "bare WebSocket echo p50")
    .note(echo_note.clone());
    let mut p99 = Series::new(
        "ping",
        "latency_p99",
        "Ping/Pong latency p99, 1 session",
        "µs",
        Better::Lower,
    )
    .baseline("bare.echo_p99", "bare WebSocket echo p99");
    let mut throughput: Vec<Series> = SESSIONS
        .iter()
        .map(|&n| {
            let series = Series::new(
                "ping",
                &format!("throughput_{n}_sessions"),
                format!("Ping/Pong round trips, {n} session(s), 1 in flight each"),
                "rt/s",
                Better::Higher,
            )
            .baseline(
                &format!("bare.echo_{n}_connections"),
                format!("bare echo, {n} connection(s)"),
            );
            if n == 64 {
                series.goal(super::report::Goal::RatioAtLeast(0.7))
            } else {
                series
            }
        })
        .collect();
    let mut pipelined = Series::new(
        "ping",
        "throughput_pipelined",
        format!("Ping/Pong round trips, 1 session, {PIPELINED} in flight"),
        "rt/s",
        Better::Higher,
    )
    .baseline(
        "bare.echo_pipelined",
        format!("bare echo, 1 connection, {PIPELINED} in flight"),
    );

    for _ in 0..settings.runs {
        // Latency: sequential round trips on one connection.
        let mut bare = BareClient::connect(env.bare_addr()).await?;
        let bare_rtts = bare.echo_rtts(len, settings.duration, MIN_SAMPLES).await?;
        bare.close().await?;
        let client = env.connect().await?;
        let closer = util::Closer::new(&client);
        for _ in 0..20 {
            client.ping().await?;
        }
        let mut etp_rtts = Vec::new();
        let start = std::time::Instant::now();
        while start.elapsed() < settings.duration || etp_rtts.len() < MIN_SAMPLES {
            etp_rtts.push(client.ping().await?);
        }
        let (bare50, bare99) = percentiles_us(&bare_rtts);
        let (etp50, etp99) = percentiles_us(&etp_rtts);
        p50.push_pair(etp50, bare50);
        p99.push_pair(etp99, bare99);

        // Throughput with n sessions, one round trip at a time each.
        for (series, &n) in throughput.iter_mut().zip(SESSIONS.iter()) {
            let bare = bare_echo_rate(env, len, n, settings.duration).await?;
            let clients = Arc::new(connect_many(env, n).await?);
            let pingers = clients.clone();
            let mark = util::phase(format!("ping.throughput_{n}_sessions"));
            let etp = util::rate(n, settings.duration, move |worker| {
                let client = pingers[worker].clone();
                async move {
                    client.ping().await?;
                    Ok(())
                }
            })
            .await?;
            drop(mark);
            close_all(clients).await;
            series.push_pair(etp, bare);
        }

        // Many requests in flight on one session.
        let bare_client = BareClient::connect(env.bare_addr()).await?;
        let (answered, elapsed) = bare_client
            .pipelined(
                Traffic::Echo(len),
                Limit::Duration(settings.duration),
                PIPELINED,
            )
            .await?;
        let bare = answered as f64 / elapsed.as_secs_f64();
        let shared = client.clone();
        let mark = util::phase("ping.throughput_pipelined");
        let etp = util::rate(PIPELINED, settings.duration, move |_| {
            let client = shared.clone();
            async move {
                client.ping().await?;
                Ok(())
            }
        })
        .await?;
        drop(mark);
        pipelined.push_pair(etp, bare);
        closer.close().await?;
    }
    report.add(p50);
    report.add(p99);
    for series in throughput {
        report.add(series);
    }
    report.add(pipelined);
    Ok(())
}

/// p50 and p99 in microseconds.
fn percentiles_us(rtts: &[Duration]) -> (f64, f64) {
    let mut us: Vec<f64> = rtts.iter().map(|d| d.as_secs_f64() * 1e6).collect();
    us.sort_by(f64::total_cmp);
    (
        percentile(&us, 50.0).unwrap_or(f64::NAN),
        percentile(&us, 99.0).unwrap_or(f64::NAN),
    )
}

/// Round trips per second of `connections` bare connections echoing one message at a time.
async fn bare_echo_rate(
    env: &Env,
    len: usize,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<f64> {
    let mut clients = Vec::with_capacity(connections);
    for _ in 0..connections {
        clients.push(BareClient::connect(env.bare_addr()).await?);
    }
    let start = std::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for mut client in clients {
        tasks.spawn(async move {
            let rtts = client.echo_rtts(len, duration, 1).await?;
            // Closing is not part of the figure: the clock stops at the last echo.
            let end = std::time::Instant::now();
            client.close().await?;
            anyhow::Ok((rtts.len(), end))
        });
    }
    let mut total = 0usize;
    let mut last = start;
    while let Some(joined) = tasks.join_next().await {
        let (count, end) = joined??;
        total += count;
        last = last.max(end);
    }
    Ok(total as f64 / (last - start).as_secs_f64().max(1e-9))
}

/// `n` sessions opened concurrently.
pub async fn connect_many(env: &Env, n: usize) -> anyhow::Result<Vec<Client>> {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let config = env.client_config();
        tasks.spawn(async move { (i, Client::connect(config).await) });
    }
    let mut clients = Vec::with_capacity(n);
    while let Some(joined) = tasks.join_next().await {
        let (i, client) = joined?;
        clients.push((i, client?));
    }
    clients.sort_by_key(|(i, _)| *i);
    Ok(clients.into_iter().map(|(_, c)| c).collect())
}

/// Closes every session in the background, ignoring failures: CloseSession goes out at
/// once, and the client's wait for the server to close the WebSocket (up to 5 s when it
/// misses the close) must not hold up the next measurement.
pub async fn close_all(clients: Arc<Vec<Client>>) {
    let clients = Arc::try_unwrap(clients).unwrap_or_else(|shared| shared.as_ref().clone());
    for client in clients {
        tokio::spawn(async move { client.close("etp bench").await });
    }
}
