//! Two tools every operation needs: splitting a keyed request into messages that fit, and
//! keeping a bounded number of requests in flight while consuming their answers in order.

use std::collections::VecDeque;
use std::future::Future;

use etp_protocol::EtpString;
use etp_protocol::codec::Map;
use tokio::task::JoinHandle;

use super::OpsError;

/// Bytes a map entry adds to an encoded request besides its value: the key's length
/// prefix (at most 10) and text.
pub(crate) fn entry_overhead(key: &str) -> usize {
    10 + key.len()
}

/// Groups `items` into maps whose estimated encoded size (`size` of each entry plus its
/// key) stays within `budget`, with at most `max_count` entries each, keeping the order. A
/// key that repeats starts a new map (a map cannot hold it twice). An item larger than
/// the budget on its own gets a map of its own; the caller decides what to do with it.
pub(crate) fn batches<K: AsRef<str> + Into<EtpString>, T>(
    items: impl IntoIterator<Item = (K, T)>,
    budget: usize,
    max_count: usize,
    size: impl Fn(&T) -> usize,
) -> Vec<Map<T>> {
    let mut out = Vec::new();
    let mut current: Map<T> = Map::new();
    let mut current_size = 0usize;
    for (key, item) in items {
        let item_size = size(&item).saturating_add(entry_overhead(key.as_ref()));
        let full = current.len() >= max_count.max(1)
            || current_size.saturating_add(item_size) > budget
            || current.contains_key(key.as_ref());
        if full && !current.is_empty() {
            out.push(std::mem::take(&mut current));
            current_size = 0;
        }
        current_size = current_size.saturating_add(item_size);
        current.insert(key.into(), item);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Spawned request tasks, aborted if the operation ends early (error or cancellation) so
/// that nothing keeps talking to the server on behalf of an abandoned operation.
struct InFlight<T>(VecDeque<JoinHandle<Result<T, OpsError>>>);

impl<T> Drop for InFlight<T> {
    fn drop(&mut self) {
        for handle in &self.0 {
            handle.abort();
        }
    }
}

/// Runs the requests produced by `next` (until it returns `None`) with at most
/// `max_in_flight` outstanding, and hands their results to `consume` in the order they were
/// produced. `next` is only called when there is room, so a producer that reads its input
/// lazily (an array source) keeps at most `max_in_flight` requests' worth in memory. The
/// first error stops everything.
pub(crate) async fn ordered<T, F>(
    max_in_flight: usize,
    mut next: impl FnMut() -> Result<Option<F>, OpsError>,
    mut consume: impl FnMut(T) -> Result<(), OpsError>,
) -> Result<(), OpsError>
where
    F: Future<Output = Result<T, OpsError>> + Send + 'static,
    T: Send + 'static,
{
    let mut queue = InFlight(VecDeque::new());
    let mut exhausted = false;
    loop {
        while !exhausted && queue.0.len() < max_in_flight.max(1) {
            match next()? {
                Some(request) => queue.0.push_back(tokio::spawn(request)),
                None => exhausted = true,
            }
        }
        let Some(handle) = queue.0.pop_front() else {
            return Ok(());
        };
        let result = handle
            .await
            .map_err(|e| OpsError::Inconsistent(format!("request task ended abnormally: {e}")))?;
        consume(result?)?;
    }
}

/// [`ordered`] over a list of requests, returning their results in order.
pub(crate) async fn all<T, F>(
    max_in_flight: usize,
    requests: impl IntoIterator<Item = F>,
) -> Result<Vec<T>, OpsError>
where
    F: Future<Output = Result<T, OpsError>> + Send + 'static,
    T: Send + 'static,
{
    let mut requests = requests.into_iter();
    let mut out = Vec::new();
    ordered(
        max_in_flight,
        || Ok(requests.next()),
        |value| {
            out.push(value);
            Ok(())
        },
    )
    .await?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[test]
    fn batches_respect_size_count_and_duplicates() {
        let items = vec![
            ("a".to_string(), 40usize),
            ("b".to_string(), 40),
            ("c".to_string(), 40),
            ("a".to_string(), 1),
            ("huge".to_string(), 500),
            ("d".to_string(), 1),
        ];
        // Entry overhead is 10 + key length: a, b = 51 each, c would make 153 > 120.
        let out = batches(items.clone(), 120, 10, |v| *v);
        let keys: Vec<Vec<&str>> = out
            .iter()
            .map(|m| m.keys().map(|k| k.as_str()).collect())
            .collect();
        assert_eq!(
            keys,
            vec![vec!["a", "b"], vec!["c", "a"], vec!["huge"], vec!["d"]]
        );
        let by_count = batches(items, usize::MAX, 2, |v| *v);
        assert_eq!(by_count.iter().map(Map::len).collect::<Vec<_>>(), [2, 2, 2]);
        assert!(batches(Vec::<(String, usize)>::new(), 10, 10, |v| *v).is_empty());
    }

    #[tokio::test]
    async fn ordered_keeps_order_and_bounds_concurrency() {
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let mut produced = 0u64;
        let mut seen = Vec::new();
        ordered(
            3,
            || {
                if produced == 10 {
                    return Ok(None);
                }
                produced += 1;
                let i = produced;
                let (running, peak) = (running.clone(), peak.clone());
                Ok(Some(async move {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    // Later requests finish first: the order must still be kept.
                    tokio::time::sleep(Duration::from_millis(20 - i)).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    Ok(i)
                }))
            },
            |i| {
                seen.push(i);
                Ok(())
            },
        )
        .await
        .unwrap();
        assert_eq!(seen, (1..=10).collect::<Vec<_>>());
        assert!(peak.load(Ordering::SeqCst) <= 3);
        assert!(peak.load(Ordering::SeqCst) >= 2);
    }

    #[tokio::test]
    async fn ordered_stops_at_the_first_error() {
        let mut produced = 0;
        let result = all(
            2,
            (0..5).map(|i| {
                produced += 1;
                async move {
                    if i == 1 {
                        Err(OpsError::InvalidArgument("boom".into()))
                    } else {
                        Ok(i)
                    }
                }
            }),
        )
        .await;
        assert!(matches!(result, Err(OpsError::InvalidArgument(_))));
        assert!(produced < 5, "stopped producing after the error");
    }
}
