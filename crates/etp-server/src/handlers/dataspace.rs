//! Dataspace (protocol 24): GetDataspaces, PutDataspaces, DeleteDataspaces (14-dataspace.md).
//!
//! The default dataspace `eml:///` always exists in the store (objects may be written
//! there, as the OSDU certification does) but is not listed by GetDataspaces: clients such
//! as pyetp expect the list to hold exactly what they created.

use std::sync::Arc;

use bytes::Bytes;
use etp_protocol::codec::{Avro, Map, decode_exact};
use etp_protocol::error_code::ErrorCode;
use etp_protocol::types::Body;
use etp_protocol::types::datatypes::object::Dataspace as EtpDataspace;
use etp_protocol::types::datatypes::{DataValue, ErrorInfo};
use etp_protocol::types::protocol::dataspace::{
    DataspaceMessage, DeleteDataspaces, DeleteDataspacesResponse, GetDataspaces,
    GetDataspacesResponse, PutDataspaces, PutDataspacesResponse,
};
use etp_protocol::uri::DataspaceUri;
use etp_store::Dataspace;

use super::{HandlerFuture, ProtocolHandler, Request, answer_map};
use crate::access::DataAccess;
use crate::config::ServerConfig;
use crate::session::{Responder, SessionContext, chunk_by_size};

/// The Dataspace protocol over a store.
pub struct DataspaceHandler {
    access: Arc<DataAccess>,
}

impl DataspaceHandler {
    /// A handler over the store behind `access`.
    pub fn new(access: Arc<DataAccess>) -> Self {
        DataspaceHandler { access }
    }
}

impl ProtocolHandler for DataspaceHandler {
    fn protocol(&self) -> i32 {
        24
    }

    fn capabilities(&self, config: &ServerConfig) -> Map<DataValue> {
        super::max_response_count_capability(config)
    }

    fn handle(
        self: Arc<Self>,
        session: Arc<SessionContext>,
        request: Request,
        responder: Responder,
    ) -> HandlerFuture {
        Box::pin(async move {
            let result = match request.body.into_body() {
                Body::Dataspace(DataspaceMessage::GetDataspaces(m)) => self.get(m, responder).await,
                Body::Dataspace(DataspaceMessage::PutDataspaces(m)) => {
                    self.put(&session, m, responder).await
                }
                Body::Dataspace(DataspaceMessage::DeleteDataspaces(m)) => {
                    self.delete(&session, m, responder).await
                }
                other => super::not_a_request(responder, "Dataspace", &other).await,
            };
            // A closed session cannot be answered; nothing else to do.
            let _ = result;
        })
    }
}

impl DataspaceHandler {
    async fn get(
        &self,
        m: GetDataspaces,
        responder: Responder,
    ) -> Result<(), crate::session::SessionClosed> {
        // The list is not part of any transaction: it always shows committed dataspaces.
        let store = self.access.store().clone();
        let listed = super::blocking(move || store.read()?.list_dataspaces()).await;
        let list = match listed {
            Ok(list) => list,
            Err((code, message)) => return responder.error(code, message).await,
        };
        let dataspaces: Vec<EtpDataspace> = list
            .into_iter()
            .filter(|d| !d.path.is_empty())
            .filter(|d| {
                m.store_last_write_filter
                    .is_none_or(|after| d.store_last_write > after)
            })
            .map(to_etp)
            .collect();
        let budget = responder.max_body_size().saturating_sub(16);
        let parts = chunk_by_size(dataspaces, budget)
            .into_iter()
            .map(|dataspaces| GetDataspacesResponse { dataspaces }.into())
            .collect();
        responder
            .reply_set(parts, Map::new(), || {
                GetDataspacesResponse::default().into()
            })
            .await
    }

    async fn put(
        &self,
        session: &SessionContext,
        m: PutDataspaces,
        responder: Responder,
    ) -> Result<(), crate::session::SessionClosed> {
        let mut errors = Map::new();
        let mut accepted = Vec::new();
        for (key, ds) in m.dataspaces {
            match validate(&ds) {
                Ok(path) => accepted.push((key, path, ds)),
                Err(e) => {
                    errors.insert(key, e);
                }
            }
        }
        let now = crate::now_micros();
        let paths: Vec<String> = accepted.iter().map(|(_, path, _)| path.clone()).collect();
        let outcome = self
            .access
            .write(
                &session.transaction,
                session.session_id,
                &paths,
                move |txn| {
                    let mut results = Vec::new();
                    for (key, path, ds) in accepted {
                        if txn.get_dataspace(&path)?.is_some() {
                            results.push((
                                key,
                                Err(ErrorInfo {
                                    message: format!("dataspace {} already exists", ds.uri).into(),
                                    code: ErrorCode::EINVALID_ARGUMENT.code(),
                                }),
                            ));
                            continue;
                        }
                        let mut custom = Vec::new();
                        ds.custom_data.encode(&mut custom);
                        let record = Dataspace {
                            path,
                            store_created: now,
                            store_last_write: now,
                            custom_data: Bytes::from(custom),
                        };
                        txn.put_dataspace(&record)?;
                        results.push((key.clone(), Ok(key.into())));
                    }
                    Ok(results)
                },
            )
            .await;
        answer_map(responder, outcome, errors, |success| {
            PutDataspacesResponse { success }.into()
        })
        .await
    }

    async fn delete(
        &self,
        session: &SessionContext,
        m: DeleteDataspaces,
        responder: Responder,
    ) -> Result<(), crate::session::SessionClosed> {
        let mut errors = Map::new();
        let mut targets = Vec::new();
        for (key, uri) in m.uris {
            match DataspaceUri::parse(&uri) {
                Ok(ds) if ds.path().is_some_and(|p| !p.is_empty()) => {
                    targets.push((key, ds.path_or_empty().to_owned(), uri))
                }
                Ok(_) => {
                    errors.insert(
                        key,
                        ErrorInfo {
                            message: "the default dataspace eml:/// cannot be deleted".into(),
                            code: ErrorCode::EREQUEST_DENIED.code(),
                        },
                    );
                }
                Err(e) => {
                    errors.insert(
                        key,
                        ErrorInfo {
                            message: format!("invalid dataspace URI {uri:?}: {e}").into(),
                            code: ErrorCode::EINVALID_URI.code(),
                        },
                    );
                }
            }
        }
        let paths: Vec<String> = targets.iter().map(|(_, path, _)| path.clone()).collect();
        let outcome = self
            .access
            .write(
                &session.transaction,
                session.session_id,
                &paths,
                move |txn| {
                    let mut results = Vec::new();
                    for (key, path, uri) in targets {
                        let result = if txn.delete_dataspace(&path, true)? {
                            Ok(uri.into())
                        } else {
                            Err(ErrorInfo {
                                message: format!("dataspace {uri} not found").into(),
                                code: ErrorCode::ENOT_FOUND.code(),
                            })
                        };
                        results.push((key, result));
                    }
                    Ok(results)
                },
            )
            .await;
        answer_map(responder, outcome, errors, |success| {
            DeleteDataspacesResponse { success }.into()
        })
        .await
    }
}

/// Checks a Dataspace record of PutDataspaces and returns its path.
fn validate(ds: &EtpDataspace) -> Result<String, ErrorInfo> {
    let invalid = |message: String| ErrorInfo {
        message: message.into(),
        code: ErrorCode::EINVALID_URI.code(),
    };
    let uri = DataspaceUri::parse(&ds.uri)
        .map_err(|e| invalid(format!("invalid dataspace URI {:?}: {e}", ds.uri)))?;
    let path = uri.path_or_empty().to_owned();
    if path.is_empty() {
        return Err(ErrorInfo {
            message: "the default dataspace eml:/// always exists".into(),
            code: ErrorCode::EINVALID_ARGUMENT.code(),
        });
    }
    if !ds.path.is_empty() && !uri.path_matches(&ds.path) {
        return Err(ErrorInfo {
            message: format!("path {:?} does not match URI {}", ds.path, ds.uri).into(),
            code: ErrorCode::EINVALID_ARGUMENT.code(),
        });
    }
    Ok(path)
}

fn to_etp(d: Dataspace) -> EtpDataspace {
    let uri = DataspaceUri::from_path(&d.path)
        .map(|u| u.to_string())
        .unwrap_or_default();
    EtpDataspace {
        uri: uri.into(),
        path: d.path.into(),
        store_last_write: d.store_last_write,
        store_created: d.store_created,
        custom_data: decode_exact::<Map<DataValue>>(&d.custom_data).unwrap_or_default(),
    }
}
