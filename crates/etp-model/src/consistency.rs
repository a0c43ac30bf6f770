//! Checking a parsed object against the URI it was put under.

use crate::qualified::split_qualified_type;
use crate::uuid::uuid_eq;
use crate::{DataObjectInfo, ModelError};

/// Checks that the XML of a put data object agrees with the URI of the
/// request (11-store.md §4).
///
/// - `expected_uuid`: the uuid from the URI, either case;
/// - `expected_qualified_type`: the type from the URI, `<family><vv>.<type>`.
///   Family and version compare ignoring ASCII case, the type name exactly
///   (our URIs are canonical); a `resqml20` / `eml20` name without `obj_`
///   never matches.
///
/// Returns [`ModelError::UuidMismatch`] or [`ModelError::TypeMismatch`];
/// the store answers both with 14 `EINVALID_OBJECT` (the OSDU certification
/// expects 14 for a uuid mismatch). The uuid is checked first.
pub fn check_consistency(
    info: &DataObjectInfo,
    expected_uuid: &str,
    expected_qualified_type: &str,
) -> Result<(), ModelError> {
    if !uuid_eq(&info.uuid, expected_uuid) {
        return Err(ModelError::UuidMismatch {
            expected: crate::error::clip(expected_uuid),
            found: info.uuid.clone(),
        });
    }
    let same_type = split_qualified_type(expected_qualified_type).is_some_and(|p| {
        p.family == info.family
            && p.version == info.family_version
            && p.type_name == info.type_name()
    });
    if !same_type {
        return Err(ModelError::TypeMismatch {
            expected: crate::error::clip(expected_qualified_type),
            found: info.qualified_type.clone(),
        });
    }
    Ok(())
}
