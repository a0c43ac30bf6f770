//! Dataspace (protocol 24): list, create, delete (14-dataspace.md).

use etp_protocol::EtpString;
use etp_protocol::codec::{Avro, Map};
use etp_protocol::types::datatypes::DataValue;
use etp_protocol::types::datatypes::object::Dataspace;
use etp_protocol::types::protocol::dataspace::{
    DeleteDataspaces, DeleteDataspacesResponse, GetDataspaces, GetDataspacesResponse,
    PutDataspaces, PutDataspacesResponse,
};
use etp_protocol::uri::DataspaceUri;

use super::pipeline::{self, batches};
use super::{DEFAULT_MAX_IN_FLIGHT, KeyedResults, OpsError, keyed_response, merge, message_budget};
use crate::Client;

/// Largest number of dataspaces per request: keeps each answer small.
const MAX_PER_REQUEST: usize = 1000;

/// Every dataspace the server lists, all response parts together;
/// `store_last_write_filter` (µs) keeps only those changed after that time.
pub async fn list_dataspaces(
    client: &Client,
    store_last_write_filter: Option<i64>,
) -> Result<Vec<Dataspace>, OpsError> {
    let parts: Vec<GetDataspacesResponse> = client
        .request_all(GetDataspaces {
            store_last_write_filter,
        })
        .await?;
    Ok(parts.into_iter().flat_map(|p| p.dataspaces).collect())
}

/// Creates dataspaces, each with its `customData` (e.g. OSDU `legaltags`, `owners`...).
/// Keys of the result are the canonical dataspace URIs. A dataspace that already exists is
/// reported by the server as an error for its key (code 5 on this server and on OSDU).
pub async fn create_dataspaces(
    client: &Client,
    dataspaces: &[(DataspaceUri, Map<DataValue>)],
) -> Result<KeyedResults<()>, OpsError> {
    let now = etp_protocol::now_micros();
    let items = dataspaces.iter().map(|(uri, custom_data)| {
        let key = uri.to_string();
        let record = Dataspace {
            uri: key.clone().into(),
            path: uri.escaped_path().into_owned().into(),
            store_last_write: now,
            store_created: now,
            custom_data: custom_data.clone(),
        };
        (key, record)
    });
    let requests = batches(
        items,
        message_budget(client),
        MAX_PER_REQUEST,
        Dataspace::encoded_len,
    )
    .into_iter()
    .map(|dataspaces| {
        let client = client.clone();
        async move {
            let keys: Vec<String> = dataspaces.keys().map(ToString::to_string).collect();
            let response = client.request(PutDataspaces { dataspaces }).await?;
            keyed_response(response, &keys, |part: PutDataspacesResponse, ok| {
                ok.extend(part.success.into_keys().map(|k| (k, ())));
            })
        }
    });
    Ok(merge(pipeline::all(DEFAULT_MAX_IN_FLIGHT, requests).await?))
}

/// Deletes dataspaces (with everything in them, on this server). Keys of the result are
/// the canonical dataspace URIs.
pub async fn delete_dataspaces(
    client: &Client,
    dataspaces: &[DataspaceUri],
) -> Result<KeyedResults<()>, OpsError> {
    let items = dataspaces.iter().map(|uri| {
        let key = uri.to_string();
        (key.clone(), EtpString::from(key))
    });
    let requests = batches(
        items,
        message_budget(client),
        MAX_PER_REQUEST,
        EtpString::encoded_len,
    )
    .into_iter()
    .map(|uris| {
        let client = client.clone();
        async move {
            let keys: Vec<String> = uris.keys().map(ToString::to_string).collect();
            let response = client.request(DeleteDataspaces { uris }).await?;
            keyed_response(response, &keys, |part: DeleteDataspacesResponse, ok| {
                ok.extend(part.success.into_keys().map(|k| (k, ())));
            })
        }
    });
    Ok(merge(pipeline::all(DEFAULT_MAX_IN_FLIGHT, requests).await?))
}
