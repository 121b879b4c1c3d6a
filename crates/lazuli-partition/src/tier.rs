//! Access tiers: Set Blob Tier, the tier at creation, and archive rehydration.
//!
//! A blob without a [`TierState`] is Hot, inferred (the account default), as in the service.
//! Moving between Hot, Cool and Cold, or to Archive, is immediate. Leaving Archive starts a
//! rehydration that completes at a fixed time (`ready_at`), stored in the row: the service
//! takes hours, this emulator a configurable delay (the front-end's
//! `LAZULI_REHYDRATE_DELAY_MS`, a few seconds by default). Completion needs no timer and no
//! write: every reader resolves the stored state against the clock ([`BlobRow::tier_view`]),
//! and the next write of the row persists the resolved state, so a rehydration that falls due
//! while the server is down has completed when it comes back.

use std::time::Duration;

use lazuli_table::WriteBatch;
use lazuli_types::conditions::Conditions;
use lazuli_types::{AzureError, ErrorCode};
use serde::{Deserialize, Serialize};

use crate::blob::blob_not_found;
use crate::rows::BlobRow;
use crate::{now_nanos, Partition};

pub const ARCHIVE: &str = "Archive";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierState {
    /// `Hot`, `Cool`, `Cold` or `Archive`.
    pub tier: String,
    /// Unix time in nanoseconds of the last change.
    pub change_time: i128,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rehydrate: Option<Rehydration>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rehydration {
    /// The tier the blob moves to once rehydrated.
    pub to: String,
    /// `Standard` or `High`.
    pub priority: String,
    pub ready_at: i128,
}

/// A blob's tier as reads report it, resolved against the clock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TierView {
    pub tier: String,
    pub inferred: bool,
    pub change_time: Option<i128>,
    /// `rehydrate-pending-to-hot` (-cool, -cold) while rehydrating.
    pub archive_status: Option<String>,
    pub rehydrate_priority: Option<String>,
}

impl TierState {
    /// The state with a due rehydration completed.
    pub fn resolved(&self, now: i128) -> TierState {
        match &self.rehydrate {
            Some(r) if r.ready_at <= now => TierState {
                tier: r.to.clone(),
                change_time: r.ready_at,
                rehydrate: None,
            },
            _ => self.clone(),
        }
    }
}

impl BlobRow {
    pub fn tier_view(&self, now: i128) -> TierView {
        match self.tier.as_ref().map(|t| t.resolved(now)) {
            None => TierView {
                tier: "Hot".into(),
                inferred: true,
                change_time: None,
                archive_status: None,
                rehydrate_priority: None,
            },
            Some(state) => TierView {
                archive_status: state
                    .rehydrate
                    .as_ref()
                    .map(|r| format!("rehydrate-pending-to-{}", r.to.to_ascii_lowercase())),
                rehydrate_priority: state.rehydrate.as_ref().map(|r| r.priority.clone()),
                tier: state.tier,
                inferred: false,
                change_time: Some(state.change_time),
            },
        }
    }

    /// True while the blob's content cannot be read (Archive, rehydrating or not).
    pub fn is_archived(&self, now: i128) -> bool {
        self.tier_view(now).tier == ARCHIVE
    }
}

/// The tier a new blob starts in (`x-ms-access-tier` on Put Blob / Put Block List / copies).
pub(crate) fn initial(tier: Option<&str>, now: i128) -> Option<TierState> {
    tier.map(|tier| TierState {
        tier: tier.to_string(),
        change_time: now,
        rehydrate: None,
    })
}

impl Partition {
    /// Set Blob Tier. Returns true when the change is pending (a rehydration from Archive:
    /// the service answers 202), false when it took effect (200). Neither the ETag nor
    /// Last-Modified changes.
    #[allow(clippy::too_many_arguments)]
    pub fn set_blob_tier(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        tier: &str,
        priority: Option<&str>,
        rehydrate_delay: Duration,
        conditions: &Conditions,
    ) -> Result<bool, AzureError> {
        let mut pending = false;
        self.modify_blob(account, container, blob, |current| {
            let current = current.ok_or_else(blob_not_found)?;
            conditions.check_tags(&current.tags)?;
            if current.blob_type != "BlockBlob" {
                return Err(AzureError::new(
                    ErrorCode::InvalidBlobType,
                    "The blob type is invalid for this operation.",
                ));
            }
            let now = now_nanos();
            let state = current.tier.as_ref().map(|t| t.resolved(now));
            let mut row = current.clone();
            row.tier = match state {
                Some(state) if state.tier == ARCHIVE && tier != ARCHIVE => match &state.rehydrate {
                    Some(r) if r.to != tier => {
                        return Err(AzureError::new(
                            ErrorCode::BlobBeingRehydrated,
                            "This operation is not permitted because the blob is being rehydrated.",
                        ))
                    }
                    Some(r) => {
                        // Only the priority may change (and only upwards, as in the service).
                        let mut state = state.clone();
                        if priority == Some("High") {
                            state.rehydrate = Some(Rehydration {
                                priority: "High".into(),
                                ..r.clone()
                            });
                        }
                        pending = true;
                        Some(state)
                    }
                    None => {
                        pending = true;
                        let delay = if priority == Some("High") {
                            rehydrate_delay / 2
                        } else {
                            rehydrate_delay
                        };
                        Some(TierState {
                            rehydrate: Some(Rehydration {
                                to: tier.to_string(),
                                priority: priority.unwrap_or("Standard").to_string(),
                                ready_at: now + delay.as_nanos() as i128,
                            }),
                            ..state
                        })
                    }
                },
                Some(state) if state.tier == tier => Some(state),
                _ => initial(Some(tier), now),
            };
            Ok((Some(row), WriteBatch::new(), Vec::new()))
        })?;
        Ok(pending)
    }
}
