//! The complete answer to one request.

use etp_protocol::error_code::ErrorCode;
use etp_protocol::message::{EtpMessage, Message};
use etp_protocol::types::Body;
use etp_protocol::types::datatypes::ErrorInfo;

use crate::error::ClientError;

/// Every message the server sent with the request's id as correlationId, up to and
/// including the one with FIN, sorted by messageId. ProtocolException parts are kept apart
/// from the other bodies: a map request with partial failures has both.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    request_id: i64,
    messages: Vec<Message>,
}

impl Response {
    /// Wraps collected parts (sorted here by messageId).
    pub fn new(request_id: i64, mut messages: Vec<Message>) -> Response {
        messages.sort_by_key(|m| m.header.message_id);
        Response {
            request_id,
            messages,
        }
    }

    /// The messageId of the request (of its first part for multipart requests).
    pub fn request_id(&self) -> i64 {
        self.request_id
    }

    /// All messages of the response set, headers included, sorted by messageId.
    pub fn messages(&self) -> &[Message] {
        &self.messages
    }

    /// The bodies that are not ProtocolExceptions, in messageId order.
    pub fn bodies(&self) -> Vec<&Body> {
        self.messages
            .iter()
            .map(|m| &m.body)
            .filter(|b| !matches!(b, Body::ProtocolException(_)))
            .collect()
    }

    /// Consumes the response, returning the bodies that are not ProtocolExceptions.
    pub fn into_bodies(self) -> Vec<Body> {
        self.messages
            .into_iter()
            .map(|m| m.body)
            .filter(|b| !matches!(b, Body::ProtocolException(_)))
            .collect()
    }

    /// Every error of every ProtocolException in the set: `(None, error)` for a
    /// whole-request `error`, `(Some(key), error)` for each entry of an `errors` map.
    pub fn errors(&self) -> Vec<(Option<String>, ErrorInfo)> {
        let mut out = Vec::new();
        for m in &self.messages {
            if let Body::ProtocolException(pe) = &m.body {
                if let Some(e) = &pe.error {
                    out.push((None, e.clone()));
                }
                out.extend(
                    pe.errors
                        .iter()
                        .map(|(k, e)| (Some(k.to_string()), e.clone())),
                );
            }
        }
        out
    }

    /// Whether any ProtocolException is part of the set.
    pub fn has_errors(&self) -> bool {
        self.messages
            .iter()
            .any(|m| matches!(m.body, Body::ProtocolException(_)))
    }

    /// `Ok` when the set has no ProtocolException, else [`ClientError::Protocol`] with the
    /// first error's code (and its key, plus a count of the others, in the message).
    pub fn check(&self) -> Result<(), ClientError> {
        let errors = self.errors();
        let Some((key, first)) = errors.first() else {
            if self.has_errors() {
                return Err(ClientError::UnexpectedResponse(
                    "ProtocolException with neither `error` nor `errors`".into(),
                ));
            }
            return Ok(());
        };
        let mut message = match key {
            Some(key) => format!("{key}: {}", first.message),
            None => first.message.to_string(),
        };
        if errors.len() > 1 {
            message.push_str(&format!(" (and {} more errors)", errors.len() - 1));
        }
        Err(ClientError::Protocol {
            code: ErrorCode::from_code(first.code),
            message,
        })
    }

    /// The only body, of type `T`. Fails with [`ClientError::Protocol`] if the set contains
    /// a ProtocolException and with [`ClientError::UnexpectedResponse`] if it holds no body,
    /// several, or one of another type.
    pub fn into_one<T: EtpMessage>(self) -> Result<T, ClientError> {
        self.check()?;
        let mut bodies = self.into_bodies();
        if bodies.len() != 1 {
            return Err(ClientError::UnexpectedResponse(format!(
                "expected one {} message, got {}",
                T::INFO.name,
                bodies.len()
            )));
        }
        let body = bodies.remove(0);
        T::try_from(body).map_err(|other| {
            ClientError::UnexpectedResponse(format!(
                "expected {}, got {}",
                T::INFO.name,
                other.info().name
            ))
        })
    }

    /// Every body, each of type `T` (the parts of a multipart response). Fails like
    /// [`Response::into_one`] on errors and on bodies of another type; an empty set is `Ok`.
    pub fn into_all<T: EtpMessage>(self) -> Result<Vec<T>, ClientError> {
        self.check()?;
        self.into_bodies()
            .into_iter()
            .map(|body| {
                T::try_from(body).map_err(|other| {
                    ClientError::UnexpectedResponse(format!(
                        "expected {}, got {}",
                        T::INFO.name,
                        other.info().name
                    ))
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etp_protocol::codec::Map;
    use etp_protocol::message::flags;
    use etp_protocol::types::datatypes::MessageHeader;
    use etp_protocol::types::protocol::core::{Pong, ProtocolException};
    use etp_protocol::types::protocol::store::DeleteDataObjectsResponse;

    fn msg(id: i64, body: Body) -> Message {
        let info = body.info();
        Message {
            header: MessageHeader {
                protocol: info.protocol,
                message_type: info.message_type,
                correlation_id: 2,
                message_id: id,
                message_flags: flags::FIN,
            },
            extension: None,
            body,
        }
    }

    #[test]
    fn sorts_and_separates_errors() {
        let mut errors = Map::new();
        errors.insert(
            "bad".into(),
            ErrorInfo {
                message: "nope".into(),
                code: 11,
            },
        );
        errors.insert(
            "worse".into(),
            ErrorInfo {
                message: "no".into(),
                code: 9,
            },
        );
        let r = Response::new(
            2,
            vec![
                msg(
                    9,
                    ProtocolException {
                        error: None,
                        errors,
                    }
                    .into(),
                ),
                msg(3, DeleteDataObjectsResponse::default().into()),
                msg(5, DeleteDataObjectsResponse::default().into()),
            ],
        );
        let ids: Vec<i64> = r.messages().iter().map(|m| m.header.message_id).collect();
        assert_eq!(ids, [3, 5, 9]);
        assert_eq!(r.bodies().len(), 2);
        let errs = r.errors();
        assert_eq!(errs.len(), 2);
        assert_eq!(errs[0].0.as_deref(), Some("bad"));
        match r.clone().check() {
            Err(ClientError::Protocol { code, message }) => {
                assert_eq!(code, ErrorCode::ENOT_FOUND);
                assert_eq!(message, "bad: nope (and 1 more errors)");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            r.into_one::<Pong>(),
            Err(ClientError::Protocol { .. })
        ));
    }

    #[test]
    fn typed_access() {
        let r = Response::new(
            2,
            vec![msg(
                1,
                Pong {
                    current_date_time: 7,
                }
                .into(),
            )],
        );
        assert_eq!(r.clone().into_one::<Pong>().unwrap().current_date_time, 7);
        assert!(matches!(
            r.clone().into_one::<DeleteDataObjectsResponse>(),
            Err(ClientError::UnexpectedResponse(_))
        ));
        assert_eq!(r.into_all::<Pong>().unwrap().len(), 1);
        let empty = Response::new(2, vec![]);
        assert!(matches!(
            empty.into_one::<Pong>(),
            Err(ClientError::UnexpectedResponse(_))
        ));
    }
}
