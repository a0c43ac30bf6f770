//! DeleteDataObjects (11-store.md §5) and the array lifecycle (03-uris-and-objects.md §6).
//!
//! Every key of one request is deleted in one store transaction (or in the session's open
//! transaction). A deleted object leaves a tombstone (GetDeletedResources) and answers
//! `deletedUris[key] = [its canonical URI]`; a missing object answers `ENOT_FOUND` (11),
//! as the OSDU certification expects. Two keys naming the same object both succeed.
//!
//! Decisions:
//!
//! * **References to a deleted object are allowed to dangle** (the default). Objects
//!   reference each other by UUID, so an edge comes back when the target is put again;
//!   the OSDU certification deletes a Wellbore and its Well in either order, and replacing
//!   a CRS by delete + put must not require deleting everything that uses it. With
//!   [`super::StoreSettings::referential_integrity`] a key whose object is still
//!   referenced by an object that remains after the request answers `ENOCASCADE_DELETE`
//!   (4003) and is not deleted; references from objects deleted by the same request do
//!   not count. (The OSDU server's commit-time check inside transactions is not emulated.)
//! * **Arrays.** An EPC external-part object (`eml20.obj_EpcExternalPartReference`) is
//!   deleted without its arrays: pyetp's `test_partial_deletion` expects them to stay
//!   readable. Any other object takes with it the arrays it owns (addressed with its own
//!   URI, RESQML 2.2 style) and the arrays its XML references (`Hdf5Dataset` /
//!   `ExternalDataArrayPart`, addressed through their proxy), so a later GetDataArrays
//!   answers 11 as on the OSDU server. The store has no index of which objects reference
//!   an array, and scanning every object's XML on each delete would not scale, so sharing
//!   is judged by the naming convention every RESQML writer follows
//!   (`/RESQML/<uuid of the writing object>/...`): a referenced array whose path names the
//!   UUID of another object that still exists belongs to that object and is kept. An
//!   array shared without that convention goes with the first object deleted.
//! * `pruneContainedObjects` is accepted and has no effect (no container types).

use std::collections::{HashMap, HashSet};

use etp_protocol::codec::Map;
use etp_protocol::error_code::ErrorCode;
use etp_protocol::types::datatypes::{ArrayOfString, ErrorInfo};
use etp_protocol::types::protocol::store::{DeleteDataObjects, DeleteDataObjectsResponse};
use etp_protocol::uri::parse_uuid;
use etp_store::{ArrayKey, StoredObject, Uuid, WriteTxn};
use tracing::debug;

use super::get::version_matches;
use super::{
    MAP_OVERHEAD, StoreHandler, dataspace_not_found, not_found, resolve, same_type, split_map,
    stored_key,
};
use crate::handlers::objects::{ObjectRef, error_info, object_uri};
use crate::session::{Responder, SessionClosed, SessionContext};

/// Answers DeleteDataObjects.
pub(super) async fn delete(
    handler: &StoreHandler,
    session: &SessionContext,
    m: DeleteDataObjects,
    responder: Responder,
) -> Result<(), SessionClosed> {
    let mut errors = Map::new();
    let mut targets = Vec::new();
    for (key, uri) in m.uris {
        match resolve(&uri) {
            Ok(object) => targets.push((key.into(), object)),
            Err(e) => {
                errors.insert(key, e);
            }
        }
    }
    let mut success = Map::new();
    if !targets.is_empty() {
        let mut dataspaces: Vec<String> = targets
            .iter()
            .map(|(_, o)| o.key.dataspace.clone())
            .collect();
        dataspaces.sort();
        dataspaces.dedup();
        let integrity = handler.settings.referential_integrity;
        let now = crate::now_micros();
        let outcome = handler
            .access
            .write(
                &session.transaction,
                session.session_id,
                &dataspaces,
                move |txn| delete_all(txn, targets, now, integrity),
            )
            .await;
        match outcome {
            Ok(results) => {
                for (key, result) in results {
                    match result {
                        Ok(uris) => {
                            success.insert(key.into(), uris);
                        }
                        Err(e) => {
                            errors.insert(key.into(), e);
                        }
                    }
                }
            }
            Err((code, message)) => return responder.error(code, message).await,
        }
    }
    let budget = responder.max_body_size().saturating_sub(MAP_OVERHEAD);
    let parts = split_map(success, budget)
        .into_iter()
        .map(|deleted_uris| DeleteDataObjectsResponse { deleted_uris }.into())
        .collect();
    responder
        .reply_set(parts, errors, || {
            DeleteDataObjectsResponse::default().into()
        })
        .await
}

/// An object a key names, found in the store.
struct Found {
    key: String,
    stored: StoredObject,
}

/// Deletes what `targets` name; per key, the deleted URIs or the error.
fn delete_all(
    txn: &mut dyn WriteTxn,
    targets: Vec<(String, ObjectRef)>,
    now: i64,
    referential_integrity: bool,
) -> etp_store::Result<Vec<(String, Result<ArrayOfString, ErrorInfo>)>> {
    let mut results = Vec::with_capacity(targets.len());
    let mut found = Vec::new();
    let mut dataspace_exists: HashMap<String, bool> = HashMap::new();
    for (key, object) in targets {
        let path = &object.key.dataspace;
        let exists = match dataspace_exists.get(path) {
            Some(&exists) => exists,
            None => {
                let exists = txn.get_dataspace(path)?.is_some();
                dataspace_exists.insert(path.clone(), exists);
                exists
            }
        };
        if !exists {
            results.push((key, Err(dataspace_not_found(path))));
            continue;
        }
        match txn.get_object(&stored_key(&object))? {
            Some(stored)
                if same_type(&stored.meta.qualified_type, &object)
                    && version_matches(&stored, &object) =>
            {
                found.push(Found { key, stored });
            }
            _ => results.push((key, Err(not_found(&object.uri.to_string())))),
        }
    }

    if referential_integrity {
        let (kept, refused) = still_referenced(txn, found)?;
        found = kept;
        results.extend(refused);
    }

    let mut arrays = Vec::new();
    for Found { key, stored } in found {
        let cascade_arrays = !is_external_part_type(&stored.meta.qualified_type);
        txn.delete_object(&stored.key, now, cascade_arrays)?;
        if cascade_arrays {
            arrays.extend(referenced_arrays(&stored));
        }
        let uri = object_uri(&stored.key, &stored.meta.qualified_type).unwrap_or_default();
        results.push((
            key,
            Ok(ArrayOfString {
                values: vec![uri.into()].into(),
            }),
        ));
    }

    arrays.sort();
    arrays.dedup();
    for array in arrays {
        if owned_by_remaining_object(txn, &array)? {
            continue;
        }
        if txn.delete_array(&array)? {
            debug!(%array, "array deleted with the object referencing it");
        }
    }
    Ok(results)
}

/// Splits `found` into the objects that may go and, with their `ENOCASCADE_DELETE`
/// answer, those still referenced by an object that stays. Repeated until stable: an
/// object kept because it is referenced keeps its own targets referenced too.
#[allow(clippy::type_complexity)]
fn still_referenced(
    txn: &dyn WriteTxn,
    found: Vec<Found>,
) -> etp_store::Result<(Vec<Found>, Vec<(String, Result<ArrayOfString, ErrorInfo>)>)> {
    let mut sources = Vec::with_capacity(found.len());
    for f in &found {
        let edges = txn.sources_of(&f.stored.key.dataspace, &f.stored.key.uuid)?;
        let from: Vec<(String, Uuid)> = edges
            .into_iter()
            .map(|e| (e.source.dataspace, e.source.uuid))
            .filter(|source| *source != (f.stored.key.dataspace.clone(), f.stored.key.uuid))
            .collect();
        sources.push(from);
    }
    let mut going: Vec<bool> = vec![true; found.len()];
    loop {
        let deleting: HashSet<(String, Uuid)> = found
            .iter()
            .zip(&going)
            .filter(|(_, going)| **going)
            .map(|(f, _)| (f.stored.key.dataspace.clone(), f.stored.key.uuid))
            .collect();
        let mut changed = false;
        for (i, from) in sources.iter().enumerate() {
            if going[i] && from.iter().any(|s| !deleting.contains(s)) {
                going[i] = false;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let mut kept = Vec::new();
    let mut refused = Vec::new();
    for ((f, going), from) in found.into_iter().zip(going).zip(sources) {
        if going {
            kept.push(f);
        } else {
            let uri = object_uri(&f.stored.key, &f.stored.meta.qualified_type).unwrap_or_default();
            let message = format!(
                "{uri} is still referenced by {} other object(s) that are not deleted",
                from.len()
            );
            refused.push((
                f.key,
                Err(error_info(ErrorCode::ENOCASCADE_DELETE, message)),
            ));
        }
    }
    Ok((kept, refused))
}

/// Whether a type is an EPC external-part proxy (its arrays outlive it).
fn is_external_part_type(qualified_type: &str) -> bool {
    qualified_type
        .split_once('.')
        .is_some_and(|(release, name)| {
            release.starts_with("eml")
                && (name.eq_ignore_ascii_case("obj_EpcExternalPartReference")
                    || name.eq_ignore_ascii_case("EpcExternalPartReference"))
        })
}

/// The store keys of the arrays an object's XML references.
fn referenced_arrays(stored: &StoredObject) -> Vec<ArrayKey> {
    // The XML was valid when it was put; a parse failure here only means no arrays.
    let Ok(info) = etp_model::parse_data_object(&stored.data) else {
        return Vec::new();
    };
    info.array_keys()
        .filter_map(|a| {
            Some(ArrayKey {
                dataspace: stored.key.dataspace.clone(),
                owner: parse_uuid(a.uuid)?,
                path: a.path_in_resource.to_owned(),
            })
        })
        .collect()
}

/// Whether the array's path names (as one `/`-separated segment) the UUID of an object
/// that still exists in its dataspace: by RESQML convention that object wrote the array.
fn owned_by_remaining_object(txn: &dyn WriteTxn, array: &ArrayKey) -> etp_store::Result<bool> {
    for segment in array.path.split('/') {
        if let Some(uuid) = parse_uuid(segment)
            && !txn.objects_by_uuid(&array.dataspace, &uuid)?.is_empty()
        {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_part_types_are_recognised() {
        assert!(is_external_part_type("eml20.obj_EpcExternalPartReference"));
        assert!(is_external_part_type("eml22.EpcExternalPartReference"));
        assert!(!is_external_part_type("resqml20.obj_Grid2dRepresentation"));
        assert!(!is_external_part_type("witsml21.EpcExternalPartReference"));
    }
}
