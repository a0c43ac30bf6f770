//! Per-dataspace writer locks: the ETP policy "one write transaction per
//! dataspace at a time" (a second `StartTransaction` gets error 15).
//!
//! The store itself does not lock: the server decides what to answer when a
//! dataspace is busy. Holding the lock for every write (transactions and
//! auto-committed requests alike) guarantees that commits never fail with
//! [`crate::StoreError::Conflict`].

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Which dataspaces a lock covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockScope {
    /// Every dataspace (`StartTransaction.dataspaceUris = []`).
    All,
    /// These dataspace paths (`""` = default dataspace).
    Paths(Vec<String>),
}

#[derive(Default)]
struct State {
    /// Owner holding `All`, if any.
    all: Option<u128>,
    /// Owners by path.
    paths: HashMap<String, u128>,
}

impl State {
    fn blocked_by(&self, scope: &LockScope) -> Option<u128> {
        if let Some(o) = self.all {
            return Some(o);
        }
        match scope {
            LockScope::All => self.paths.values().next().copied(),
            LockScope::Paths(ps) => ps.iter().find_map(|p| self.paths.get(p).copied()),
        }
    }
}

struct Shared {
    state: Mutex<State>,
    freed: Condvar,
}

/// Registry of dataspace writer locks, shared by all sessions.
#[derive(Clone)]
pub struct DataspaceLocks {
    shared: Arc<Shared>,
}

impl Default for DataspaceLocks {
    fn default() -> Self {
        Self::new()
    }
}

/// A held lock; released on drop (commit, rollback, session end).
pub struct DataspaceGuard {
    shared: Arc<Shared>,
    scope: LockScope,
    owner: u128,
}

impl std::fmt::Debug for DataspaceGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataspaceGuard")
            .field("scope", &self.scope)
            .field("owner", &self.owner)
            .finish()
    }
}

impl DataspaceLocks {
    /// Empty registry.
    pub fn new() -> Self {
        Self {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                freed: Condvar::new(),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave `State` half-updated
        // (every update is a single insert/remove), so a poisoned lock is safe to reuse.
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn take(&self, st: &mut State, scope: &LockScope, owner: u128) -> DataspaceGuard {
        match scope {
            LockScope::All => st.all = Some(owner),
            LockScope::Paths(ps) => {
                for p in ps {
                    st.paths.insert(p.clone(), owner);
                }
            }
        }
        DataspaceGuard {
            shared: self.shared.clone(),
            scope: scope.clone(),
            owner,
        }
    }

    /// Takes the lock if free; otherwise returns the owner holding it (the
    /// server answers `EMAX_TRANSACTIONS_EXCEEDED`, 15). `owner` identifies
    /// the session, e.g. its id as `u128`.
    pub fn try_lock(&self, scope: &LockScope, owner: u128) -> Result<DataspaceGuard, u128> {
        let mut st = self.state();
        if let Some(o) = st.blocked_by(scope) {
            return Err(o);
        }
        Ok(self.take(&mut st, scope, owner))
    }

    /// Waits up to `timeout` for the lock (for auto-committed writes that
    /// should queue behind a short transaction rather than fail).
    pub fn lock_timeout(
        &self,
        scope: &LockScope,
        owner: u128,
        timeout: Duration,
    ) -> Result<DataspaceGuard, u128> {
        let deadline = Instant::now() + timeout;
        let mut st = self.state();
        loop {
            let Some(o) = st.blocked_by(scope) else {
                return Ok(self.take(&mut st, scope, owner));
            };
            let now = Instant::now();
            if now >= deadline {
                return Err(o);
            }
            st = self
                .shared
                .freed
                .wait_timeout(st, deadline - now)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }
}

impl Drop for DataspaceGuard {
    fn drop(&mut self) {
        let mut st = self
            .shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match &self.scope {
            LockScope::All => {
                if st.all == Some(self.owner) {
                    st.all = None;
                }
            }
            LockScope::Paths(ps) => {
                for p in ps {
                    if st.paths.get(p) == Some(&self.owner) {
                        st.paths.remove(p);
                    }
                }
            }
        }
        drop(st);
        self.shared.freed.notify_all();
    }
}
