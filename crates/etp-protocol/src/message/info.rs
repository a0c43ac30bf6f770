//! Schema facts every message type carries: protocol, message type, sender roles, multipart.

use crate::codec::{Avro, DecodeError, Reader};
use crate::types::Body;

/// A role an endpoint plays in a protocol. Each protocol has two: Core `client`/`server`,
/// ChannelStreaming `producer`/`consumer`, all others `store`/`customer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Core: the endpoint that opened the WebSocket.
    Client,
    /// Core: the endpoint that accepted it.
    Server,
    /// ChannelStreaming: sends channel data.
    Producer,
    /// ChannelStreaming: receives channel data.
    Consumer,
    /// Holds the data and answers requests.
    Store,
    /// Asks the store.
    Customer,
}

impl Role {
    /// Every role, for messages any endpoint may send (ProtocolException, Acknowledge).
    pub const ALL: &'static [Role] = &[
        Role::Client,
        Role::Server,
        Role::Producer,
        Role::Consumer,
        Role::Store,
        Role::Customer,
    ];

    /// The role's name as written in `SupportedProtocol.role`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Server => "server",
            Role::Producer => "producer",
            Role::Consumer => "consumer",
            Role::Store => "store",
            Role::Customer => "customer",
        }
    }

    /// Parses a role name case-insensitively (the DevKit matches roles that way).
    pub fn parse(name: &str) -> Option<Role> {
        [
            Role::Client,
            Role::Server,
            Role::Producer,
            Role::Consumer,
            Role::Store,
            Role::Customer,
        ]
        .into_iter()
        .find(|r| r.as_str().eq_ignore_ascii_case(name.trim()))
    }

    /// The other role of the same protocol.
    pub fn counterpart(self) -> Role {
        match self {
            Role::Client => Role::Server,
            Role::Server => Role::Client,
            Role::Producer => Role::Consumer,
            Role::Consumer => Role::Producer,
            Role::Store => Role::Customer,
            Role::Customer => Role::Store,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Facts the schema states about one message type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageInfo {
    /// Protocol number (0 Core, 3 Discovery, 4 Store, ...).
    pub protocol: i32,
    /// Message type within the protocol.
    pub message_type: i32,
    /// Record name, e.g. `GetDataObjects`.
    pub name: &'static str,
    /// Full Avro name, e.g. `Energistics.Etp.v12.Protocol.Store.GetDataObjects`.
    pub full_name: &'static str,
    /// Roles allowed to send it.
    pub sender: &'static [Role],
    /// Whether it may be split into several messages of one message set.
    pub multipart: bool,
}

impl MessageInfo {
    /// Whether an endpoint playing `role` may receive this message, i.e. its counterpart
    /// may send it. A store never receives `...Response` messages, for instance.
    pub fn receivable_by(&self, role: Role) -> bool {
        self.sender.contains(&role.counterpart())
    }
}

/// A generated message body type.
pub trait EtpMessage: Avro + Into<Body> + TryFrom<Body, Error = Body> {
    /// The schema facts of this message type.
    const INFO: MessageInfo;
    /// Shorthand for `INFO.protocol`.
    const PROTOCOL: i32 = Self::INFO.protocol;
    /// Shorthand for `INFO.message_type`.
    const MESSAGE_TYPE: i32 = Self::INFO.message_type;
}

/// Why a message body could not be turned into a [`Body`]. Each maps to the ETP error
/// code a receiver answers with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// The header names a protocol the schema does not define (EUNSUPPORTED_PROTOCOL, 4).
    #[error("unsupported protocol {0}")]
    UnsupportedProtocol(i32),
    /// The protocol exists but has no such message type (EINVALID_MESSAGETYPE, 3).
    #[error("protocol {protocol} has no message type {message_type}")]
    InvalidMessageType {
        /// Protocol from the header.
        protocol: i32,
        /// Message type from the header.
        message_type: i32,
    },
    /// The body bytes do not decode as the message's record (EINVALID_MESSAGE, 19).
    #[error("invalid message body: {0}")]
    Invalid(#[from] DecodeError),
}

/// Decodes one message body record, naming the message in the error path.
pub fn decode_body<T: EtpMessage>(r: &mut Reader<'_>) -> Result<T, BodyError> {
    T::decode(r).map_err(|e| BodyError::Invalid(e.in_field(T::INFO.name)))
}
