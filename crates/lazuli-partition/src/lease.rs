//! Blob and container leases: the service's state machine (available, leased, expired,
//! breaking, broken), driven by the clock, and the checks that every write makes against it.
//!
//! A lease is stored in its blob's or container's row. Its state is not stored but derived
//! from the stored times whenever it is read, so expiry needs no timer: a fixed lease whose
//! expiry time has passed is `expired`, a breaking lease whose break time has passed is
//! `broken`. Releasing removes the lease (`available`). Lease operations change neither the
//! ETag nor the modification time of the resource, as in the service.

use lazuli_table::WriteBatch;
use lazuli_types::conditions::Conditions;
use lazuli_types::{AzureError, ErrorCode};
use serde::{Deserialize, Serialize};

use crate::blob::blob_not_found;
use crate::rows::{BlobRow, ContainerRow};
use crate::{now_nanos, time_from_nanos, Partition};

const NANOS_PER_SEC: i128 = 1_000_000_000;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub id: String,
    /// Seconds (15..=60), or -1 for an infinite lease.
    pub duration: i32,
    /// When a fixed lease expires (Unix ns); `None` for an infinite lease.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<i128>,
    /// Set by Break: when the lease is (or becomes) broken (Unix ns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broken_at: Option<i128>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseState {
    Available,
    Leased,
    Expired,
    Breaking,
    Broken,
}

impl LeaseState {
    pub fn of(lease: Option<&Lease>, now: i128) -> LeaseState {
        let Some(lease) = lease else {
            return LeaseState::Available;
        };
        if let Some(at) = lease.broken_at {
            return if now >= at {
                LeaseState::Broken
            } else {
                LeaseState::Breaking
            };
        }
        match lease.expires {
            Some(at) if now >= at => LeaseState::Expired,
            _ => LeaseState::Leased,
        }
    }

    /// Writes need the lease id while the lease is held or breaking.
    pub fn is_active(self) -> bool {
        matches!(self, LeaseState::Leased | LeaseState::Breaking)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LeaseState::Available => "available",
            LeaseState::Leased => "leased",
            LeaseState::Expired => "expired",
            LeaseState::Breaking => "breaking",
            LeaseState::Broken => "broken",
        }
    }
}

/// What Get Properties and listings show of a lease: `x-ms-lease-state`, `x-ms-lease-status`
/// and, while leased, `x-ms-lease-duration`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseView {
    pub state: &'static str,
    pub status: &'static str,
    pub duration: Option<&'static str>,
}

pub fn lease_view(lease: Option<&Lease>) -> LeaseView {
    let state = LeaseState::of(lease, now_nanos());
    LeaseView {
        state: state.as_str(),
        status: if state.is_active() { "locked" } else { "unlocked" },
        duration: match (state, lease) {
            (LeaseState::Leased, Some(lease)) if lease.duration < 0 => Some("infinite"),
            (LeaseState::Leased, Some(_)) => Some("fixed"),
            _ => None,
        },
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseAction {
    Acquire {
        duration: i32,
        proposed_id: Option<String>,
    },
    Renew,
    Change {
        proposed_id: String,
    },
    Release,
    /// Break period in seconds (0..=60); `None`: the rest of a fixed lease, at once for an
    /// infinite one.
    Break {
        period: Option<u32>,
    },
}

/// What a lease operation answers: `x-ms-lease-id` and (Break) `x-ms-lease-time`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeaseOutcome {
    pub lease_id: Option<String>,
    pub lease_time: Option<u32>,
}

/// Whether a lease protects a blob or a container (the error codes differ).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseScope {
    Blob,
    Container,
}

fn same_id(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

fn err(code: ErrorCode, message: &str) -> AzureError {
    AzureError::new(code, message)
}

fn new_lease_id() -> String {
    let bits: u128 = rand::random();
    let hex = format!("{bits:032x}");
    format!(
        "{}-{}-4{}-a{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

fn expiry(duration: i32, now: i128) -> Option<i128> {
    (duration >= 0).then(|| now + duration as i128 * NANOS_PER_SEC)
}

/// Seconds left until `at`, rounded up.
fn seconds_until(at: i128, now: i128) -> u32 {
    let left = (at - now).max(0);
    ((left + NANOS_PER_SEC - 1) / NANOS_PER_SEC).min(u32::MAX as i128) as u32
}

/// Applies a lease operation at time `now`; `given_id` is the request's `x-ms-lease-id`.
pub fn apply(
    lease: Option<&Lease>,
    action: &LeaseAction,
    given_id: Option<&str>,
    now: i128,
) -> Result<(Option<Lease>, LeaseOutcome), AzureError> {
    use LeaseState::*;
    let state = LeaseState::of(lease, now);
    let not_present = || {
        err(
            ErrorCode::LeaseNotPresentWithLeaseOperation,
            "There is currently no lease on the resource.",
        )
    };
    let mismatch = || {
        err(
            ErrorCode::LeaseIdMismatchWithLeaseOperation,
            "The lease ID specified did not match the lease ID for the resource.",
        )
    };
    // The id the operation names must be the lease's, for every action but Acquire and Break.
    let matching = |lease: Option<&Lease>| -> Result<Lease, AzureError> {
        let lease = lease.ok_or_else(not_present)?;
        match given_id {
            Some(id) if same_id(id, &lease.id) => Ok(lease.clone()),
            _ => Err(mismatch()),
        }
    };
    match action {
        LeaseAction::Acquire { duration, proposed_id } => {
            let id = match state {
                Available | Expired | Broken => proposed_id.clone().unwrap_or_else(new_lease_id),
                Leased => {
                    let current = lease.map(|l| l.id.clone()).unwrap_or_default();
                    // Acquiring again with the current id is allowed (it restarts the lease).
                    match proposed_id {
                        Some(p) if same_id(p, &current) => current,
                        _ => return Err(err(ErrorCode::LeaseAlreadyPresent, "There is already a lease present.")),
                    }
                }
                Breaking => {
                    let current = lease.map(|l| l.id.as_str()).unwrap_or_default();
                    return Err(match proposed_id {
                        Some(p) if same_id(p, current) => err(
                            ErrorCode::LeaseIsBreakingAndCannotBeAcquired,
                            "There is already a breaking lease present and it cannot be acquired.",
                        ),
                        _ => err(ErrorCode::LeaseAlreadyPresent, "There is already a lease present."),
                    });
                }
            };
            let lease = Lease {
                id: id.clone(),
                duration: *duration,
                expires: expiry(*duration, now),
                broken_at: None,
            };
            Ok((
                Some(lease),
                LeaseOutcome {
                    lease_id: Some(id),
                    lease_time: None,
                },
            ))
        }
        LeaseAction::Renew => {
            let mut current = matching(lease)?;
            if matches!(state, Breaking | Broken) {
                return Err(err(
                    ErrorCode::LeaseIsBrokenAndCannotBeRenewed,
                    "The lease ID matched, but the lease has been broken explicitly and cannot be renewed.",
                ));
            }
            current.expires = expiry(current.duration, now);
            let id = current.id.clone();
            Ok((
                Some(current),
                LeaseOutcome {
                    lease_id: Some(id),
                    lease_time: None,
                },
            ))
        }
        LeaseAction::Change { proposed_id } => {
            let current = lease.ok_or_else(not_present)?;
            let named = given_id.is_some_and(|id| same_id(id, &current.id)) || same_id(proposed_id, &current.id);
            match state {
                Leased if named => {
                    let mut changed = current.clone();
                    changed.id = proposed_id.clone();
                    Ok((
                        Some(changed),
                        LeaseOutcome {
                            lease_id: Some(proposed_id.clone()),
                            lease_time: None,
                        },
                    ))
                }
                Breaking if named => Err(err(
                    ErrorCode::LeaseIsBreakingAndCannotBeChanged,
                    "The lease ID matched, but the lease is currently in breaking state and cannot be changed.",
                )),
                Leased | Breaking => Err(mismatch()),
                Available | Expired | Broken => Err(not_present()),
            }
        }
        LeaseAction::Release => {
            matching(lease)?;
            Ok((None, LeaseOutcome::default()))
        }
        LeaseAction::Break { period } => {
            let current = match state {
                Available => return Err(not_present()),
                _ => lease.cloned().ok_or_else(not_present)?,
            };
            let break_at = match state {
                Leased => {
                    let natural = current.expires.unwrap_or(now);
                    match (period, current.expires) {
                        (Some(p), Some(end)) => end.min(now + *p as i128 * NANOS_PER_SEC),
                        (Some(p), None) => now + *p as i128 * NANOS_PER_SEC,
                        (None, _) => natural,
                    }
                }
                Breaking => {
                    let at = current.broken_at.unwrap_or(now);
                    match period {
                        Some(p) => at.min(now + *p as i128 * NANOS_PER_SEC),
                        None => at,
                    }
                }
                // An expired or broken lease breaks at once.
                Expired | Broken | Available => current.broken_at.unwrap_or(now).min(now),
            };
            let mut broken = current;
            broken.broken_at = Some(break_at);
            Ok((
                Some(broken),
                LeaseOutcome {
                    lease_id: None,
                    lease_time: Some(seconds_until(break_at, now)),
                },
            ))
        }
    }
}

/// The lease a blob keeps across a write that changes it: all but an expired one, whose id
/// the service keeps (renewable) only until the blob is modified.
pub fn lease_after_write(lease: Option<&Lease>, now: i128) -> Option<Lease> {
    match LeaseState::of(lease, now) {
        LeaseState::Expired => None,
        _ => lease.cloned(),
    }
}

/// Checks the request's lease id (`given`) for an operation on a leased resource. Writes
/// (and deletes) need the id while the lease is active; any operation that names an id needs
/// it to be the active lease's.
pub fn check_access(
    lease: Option<&Lease>,
    given: Option<&str>,
    write: bool,
    scope: LeaseScope,
) -> Result<(), AzureError> {
    let now = now_nanos();
    let state = LeaseState::of(lease, now);
    let (mismatch, not_present) = match scope {
        LeaseScope::Blob => (
            ErrorCode::LeaseIdMismatchWithBlobOperation,
            ErrorCode::LeaseNotPresentWithBlobOperation,
        ),
        LeaseScope::Container => (
            ErrorCode::LeaseIdMismatchWithContainerOperation,
            ErrorCode::LeaseNotPresentWithContainerOperation,
        ),
    };
    match (state.is_active(), given, lease) {
        (true, None, _) if write => Err(err(
            ErrorCode::LeaseIdMissing,
            "There is currently a lease on the resource and no lease ID was specified in the request.",
        )),
        (true, None, _) => Ok(()),
        (true, Some(id), Some(lease)) if same_id(id, &lease.id) => Ok(()),
        (true, Some(_), _) => Err(err(
            mismatch,
            "The lease ID specified did not match the lease ID for the resource.",
        )),
        (false, None, _) => Ok(()),
        (false, Some(id), Some(lease)) if same_id(id, &lease.id) && state != LeaseState::Available => Err(err(
            ErrorCode::LeaseLost,
            "A lease ID was specified, but the lease for the resource has expired.",
        )),
        (false, Some(_), _) => Err(err(not_present, "There is currently no lease on the resource.")),
    }
}

impl Partition {
    /// Lease Blob. Conditions (`If-Match` and the like) apply to the blob; the lease id is the
    /// one the action names, not an access condition.
    pub fn lease_blob(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        action: &LeaseAction,
        lease_id: Option<&str>,
        conditions: &Conditions,
    ) -> Result<(BlobRow, LeaseOutcome), AzureError> {
        let mut outcome = LeaseOutcome::default();
        let row = self.modify_blob(account, container, blob, |current| {
            let current = current.ok_or_else(blob_not_found)?;
            // The conditional headers only: the lease id here names the lease, it is no
            // access condition.
            conditions.check_tags(&current.tags)?;
            conditions.check_write(
                Some((&current.etag, time_from_nanos(current.last_modified))),
                ErrorCode::BlobAlreadyExists,
            )?;
            let (lease, result) = apply(current.lease.as_ref(), action, lease_id, now_nanos())?;
            outcome = result;
            let mut row = current.clone();
            row.lease = lease;
            Ok((Some(row), WriteBatch::new(), Vec::new()))
        })?;
        let row = row.ok_or_else(|| AzureError::internal("lease produced no row"))?;
        Ok((row, outcome))
    }

    /// Lease Container. Only `If-Modified-Since` and `If-Unmodified-Since` apply.
    pub fn lease_container(
        &self,
        account: &str,
        container: &str,
        action: &LeaseAction,
        lease_id: Option<&str>,
        conditions: &Conditions,
    ) -> Result<(ContainerRow, LeaseOutcome), AzureError> {
        let _guard = self.locks.container_exclusive(account, container);
        let mut row = self.get_container(account, container)?;
        conditions.check_write(
            Some((&row.etag, time_from_nanos(row.last_modified))),
            ErrorCode::ContainerAlreadyExists,
        )?;
        let (lease, outcome) = apply(row.lease.as_ref(), action, lease_id, now_nanos())?;
        row.lease = lease;
        let mut batch = WriteBatch::new();
        batch.put(
            crate::keys::container(account, container),
            crate::rows::encode(&row, None),
        );
        self.table.write(&batch).map_err(crate::PartitionError::from)?;
        Ok((row, outcome))
    }

    /// For operations that do not otherwise read the blob's row under its lock (Put Block,
    /// Snapshot Blob): a lease id, when given, must name the blob's active lease.
    pub fn check_blob_lease_if_given(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        lease_id: Option<&str>,
    ) -> Result<(), AzureError> {
        if lease_id.is_none() {
            return Ok(());
        }
        let row = self.read_blob_row(account, container, blob)?;
        check_access(
            row.as_ref().and_then(|r| r.lease.as_ref()),
            lease_id,
            false,
            LeaseScope::Blob,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i128 = NANOS_PER_SEC;

    fn acquire(duration: i32, id: Option<&str>) -> LeaseAction {
        LeaseAction::Acquire {
            duration,
            proposed_id: id.map(str::to_string),
        }
    }

    #[test]
    fn state_machine() {
        let (lease, out) = apply(None, &acquire(15, Some("a")), None, 0).unwrap();
        let lease = lease.unwrap();
        assert_eq!(out.lease_id.as_deref(), Some("a"));
        assert_eq!(LeaseState::of(Some(&lease), 14 * S), LeaseState::Leased);
        assert_eq!(LeaseState::of(Some(&lease), 15 * S), LeaseState::Expired);
        let code = |r: Result<(Option<Lease>, LeaseOutcome), AzureError>| r.unwrap_err().code;
        assert_eq!(
            code(apply(Some(&lease), &acquire(15, Some("b")), None, S)),
            ErrorCode::LeaseAlreadyPresent
        );
        assert!(apply(Some(&lease), &acquire(15, Some("b")), None, 16 * S).is_ok());
        assert_eq!(
            code(apply(Some(&lease), &LeaseAction::Renew, Some("b"), S)),
            ErrorCode::LeaseIdMismatchWithLeaseOperation
        );
        let (renewed, _) = apply(Some(&lease), &LeaseAction::Renew, Some("A"), 20 * S).unwrap();
        assert_eq!(renewed.unwrap().expires, Some(35 * S));
        let (breaking, out) = apply(Some(&lease), &LeaseAction::Break { period: Some(5) }, None, S).unwrap();
        let breaking = breaking.unwrap();
        assert_eq!(out.lease_time, Some(5));
        assert_eq!(LeaseState::of(Some(&breaking), 2 * S), LeaseState::Breaking);
        assert_eq!(LeaseState::of(Some(&breaking), 6 * S), LeaseState::Broken);
        assert_eq!(
            code(apply(Some(&breaking), &LeaseAction::Renew, Some("a"), 2 * S)),
            ErrorCode::LeaseIsBrokenAndCannotBeRenewed
        );
        assert_eq!(
            code(apply(Some(&breaking), &acquire(15, Some("a")), None, 2 * S)),
            ErrorCode::LeaseIsBreakingAndCannotBeAcquired
        );
        let change = LeaseAction::Change {
            proposed_id: "c".into(),
        };
        assert_eq!(
            code(apply(Some(&breaking), &change, Some("a"), 2 * S)),
            ErrorCode::LeaseIsBreakingAndCannotBeChanged
        );
        assert!(apply(Some(&breaking), &acquire(-1, None), None, 6 * S).is_ok());
        assert_eq!(
            code(apply(None, &LeaseAction::Release, Some("a"), 0)),
            ErrorCode::LeaseNotPresentWithLeaseOperation
        );
        assert_eq!(
            code(apply(None, &LeaseAction::Break { period: None }, None, 0)),
            ErrorCode::LeaseNotPresentWithLeaseOperation
        );
        let (changed, out) = apply(Some(&lease), &change, Some("a"), S).unwrap();
        assert_eq!((changed.unwrap().id, out.lease_id.unwrap()), ("c".into(), "c".into()));
        // A fixed lease broken without a period breaks when it would have expired.
        let (_, out) = apply(Some(&lease), &LeaseAction::Break { period: None }, None, 5 * S).unwrap();
        assert_eq!(out.lease_time, Some(10));
        assert!(new_lease_id().len() == 36);
        // Writes keep a lease, except an expired one.
        assert_eq!(lease_after_write(Some(&lease), 14 * S), Some(lease.clone()));
        assert_eq!(lease_after_write(Some(&lease), 15 * S), None);
        assert_eq!(lease_after_write(Some(&breaking), 10 * S), Some(breaking.clone()));
    }
}
