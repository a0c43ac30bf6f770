//! Realistic RESQML 2.0.1 data objects for the object and discovery figures: a
//! Grid2dRepresentation with citation, three references (interpretation, CRS, HDF proxy)
//! and control points up to the requested size, the same document shape as the codec
//! benchmark uses.

use bytes::Bytes;
use etp_protocol::Uuid;
use etp_protocol::codec::Map;
use etp_protocol::types::datatypes::object::{ActiveStatusKind, DataObject, Resource};

/// The qualified type of every generated object.
pub const GRID_TYPE: &str = "resqml20.obj_Grid2dRepresentation";

/// Deterministic pseudo-random numbers (SplitMix64): every run sends the same bytes.
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A random version-4 UUID.
    pub fn uuid(&mut self) -> Uuid {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        bytes[8..].copy_from_slice(&self.next_u64().to_le_bytes());
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        Uuid(bytes)
    }
}

/// One generated object: its URI and the `DataObject` to put.
pub struct GeneratedObject {
    /// Canonical data object URI.
    pub uri: String,
    /// UUID.
    pub uuid: Uuid,
    /// The object as PutDataObjects carries it (the `data` bytes are shared, not copied).
    pub object: DataObject,
}

/// `count` objects of exactly `size` bytes of XML (at least about 2 KiB: the fixed part)
/// in the dataspace `dataspace_uri`, deterministic for a seed.
pub fn grid_objects(
    dataspace_uri: &str,
    count: usize,
    size: usize,
    seed: u64,
) -> Vec<GeneratedObject> {
    let mut rng = Rng::new(seed);
    (0..count)
        .map(|i| {
            let uuid = rng.uuid();
            let title = format!("Top Reservoir grid {i:06}");
            let data = grid_xml(&mut rng, uuid, &title, size);
            let uri = format!("{dataspace_uri}/{GRID_TYPE}({uuid})");
            let now = etp_protocol::now_micros();
            let resource = Resource {
                uri: uri.clone().into(),
                alternate_uris: Default::default(),
                name: title.into(),
                source_count: None,
                target_count: None,
                last_changed: now,
                store_last_write: now,
                store_created: now,
                active_status: ActiveStatusKind::Inactive,
                custom_data: Map::new(),
            };
            GeneratedObject {
                uri,
                uuid,
                object: DataObject {
                    resource,
                    format: "xml".into(),
                    blob_id: None,
                    data,
                },
            }
        })
        .collect()
}

/// RESQML 2.0.1 XML of a Grid2dRepresentation padded to exactly `size` bytes
/// ([`etp_model::samples::grid2d_xml`]), referencing three fresh UUIDs.
pub fn grid_xml(rng: &mut Rng, uuid: Uuid, title: &str, size: usize) -> Bytes {
    let references = [rng.uuid(), rng.uuid(), rng.uuid()].map(|u| u.to_string());
    let [interp, crs, hdf] = &references;
    Bytes::from(etp_model::samples::grid2d_xml(
        &uuid.to_string(),
        title,
        [interp, crs, hdf],
        size,
        || rng.next_u64(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_have_the_requested_size_and_parse_as_resqml() {
        let objects = grid_objects("eml:///dataspace('b')", 3, 20 * 1024, 7);
        assert_eq!(objects.len(), 3);
        for o in &objects {
            assert_eq!(o.object.data.len(), 20 * 1024);
            let info = etp_model::parse_data_object(&o.object.data).unwrap();
            assert_eq!(info.qualified_type, GRID_TYPE);
            assert_eq!(info.uuid, o.uuid.to_string());
            assert_eq!(info.references.len(), 3);
            assert!(o.uri.ends_with(&format!("{GRID_TYPE}({})", o.uuid)));
            etp_protocol::uri::DataObjectUri::parse(&o.uri).unwrap();
        }
        assert_ne!(objects[0].uuid, objects[1].uuid);
        let again = grid_objects("eml:///dataspace('b')", 1, 20 * 1024, 7);
        assert_eq!(again[0].object.data, objects[0].object.data);
    }

    #[test]
    fn small_objects_keep_the_fixed_part() {
        let o = &grid_objects("eml:///", 1, 100, 1)[0];
        assert!(o.object.data.len() > 100);
        etp_model::parse_data_object(&o.object.data).unwrap();
    }
}
