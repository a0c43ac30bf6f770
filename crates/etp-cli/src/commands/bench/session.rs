//! Session open + close per second.
//!
//! Each of [`CONCURRENCY`] loops connects (TCP, WebSocket upgrade with the ETP
//! subprotocol, RequestSession → OpenSession), then closes (CloseSession, and waits for the
//! server to close the WebSocket), as fast as it can. The baseline does the same on the
//! bare WebSocket server: TCP, upgrade, close frame and its answer.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use etp_client::Client;

use super::Env;
use super::baseline::BareClient;
use super::report::{Better, Report, Series};
use super::util;

/// Loops opening and closing sessions at the same time.
const CONCURRENCY: usize = 16;
/// A close this slow waited for a server close that it had missed (the client gives up
/// after 5 s).
const SLOW_CLOSE: Duration = Duration::from_secs(4);

/// Counts closes, and those that took [`SLOW_CLOSE`] or longer.
#[derive(Default)]
struct CloseCounter {
    slow: AtomicU64,
    total: AtomicU64,
}

impl CloseCounter {
    fn record(&self, took: Duration) {
        self.total.fetch_add(1, Ordering::Relaxed);
        if took >= SLOW_CLOSE {
            self.slow.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn get(&self) -> (u64, u64) {
        (
            self.slow.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
        )
    }
}

/// Measures the figure `--runs` times.
pub async fn run(env: &Env, report: &mut Report) -> anyhow::Result<()> {
    let settings = &env.settings;
    let mut series = Series::new(
        "session",
        "open_close",
        format!("session open + close, {CONCURRENCY} concurrent loops"),
        "sessions/s",
        Better::Higher,
    )
    .baseline("bare.connect_close", "bare WebSocket connect + close")
    .note(
        "one session = TCP connect, upgrade, RequestSession/OpenSession, CloseSession, \
         server closes the WebSocket",
    );
    let slow_closes = Arc::new(CloseCounter::default());
    for _ in 0..settings.runs {
        let addr = env.bare_addr();
        let bare = util::rate(CONCURRENCY, settings.duration, move |_| async move {
            BareClient::connect(addr).await?.close().await
        })
        .await?;
        let config = env.client_config();
        let counter = slow_closes.clone();
        let mark = util::phase("session.open_close");
        let etp = util::rate(CONCURRENCY, settings.duration, move |_| {
            let (config, counter) = (config.clone(), counter.clone());
            async move {
                let client = Client::connect(config).await?;
                let start = Instant::now();
                client.close("etp bench").await?;
                counter.record(start.elapsed());
                Ok(())
            }
        })
        .await?;
        drop(mark);
        series.push_pair(etp, bare);
    }
    let (slow, total) = slow_closes.get();
    if slow > 0 {
        series.add_note(format!(
            "{slow} of {total} Client::close calls waited ≥ {} s for the server to close the \
             WebSocket (the client's CLOSE_WAIT): each stalls its loop and drags the rate of its run down",
            SLOW_CLOSE.as_secs()
        ));
    }
    report.add(series);
    Ok(())
}
