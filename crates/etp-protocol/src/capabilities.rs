//! ETP capability names and their specification (02-errors-capabilities.md
//! §2–§5): endpoint capabilities (RequestSession/OpenSession and the
//! capabilities document), protocol capabilities
//! (`SupportedProtocol.protocolCapabilities`) and data object capabilities
//! (`SupportedDataObject.dataObjectCapabilities`).
//!
//! On the wire these are `map<string, DataValue>` keys; the names are the
//! symbols of the Avro enums `EndpointCapabilityKind`,
//! `ProtocolCapabilityKind` and `DataObjectCapabilityKind`. This module
//! does not depend on the generated message types: it gives every name as a
//! [`CapabilitySpec`] constant (name, value kind, defaults, limits) and
//! tables to look names up, so that negotiation code and pyetp-compatibility
//! checks share one source of truth.
//!
//! Decisions on open questions in the notes:
//! - A spec default or minimum marked UNSURE in the notes is left out
//!   (`None`) rather than guessed, because applying a guessed minimum could
//!   make us send more than a peer accepts. The affected entries are
//!   protocol `MaxDataObjectSize` (no minimum), `MaxResponseCount` (no spec
//!   default) and the data object capabilities (no spec defaults; send them
//!   explicitly). `SupportsSecondaryIndexFiltering` keeps `false`, the
//!   conservative reading.
//! - The DevKit default of `MultipartMessageTimeoutPeriod` is 1 s, below the
//!   spec minimum of 60; [`CapabilitySpec::recommended_long`] clamps it.

/// Which of the three capability maps a name belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CapabilityScope {
    /// `endpointCapabilities` of RequestSession/OpenSession.
    Endpoint,
    /// `SupportedProtocol.protocolCapabilities`.
    Protocol,
    /// `SupportedDataObject.dataObjectCapabilities`.
    DataObject,
}

/// The `DataValue` branch a capability's value must use. Numbers may arrive
/// as Avro `int` as well as `long` (pyetp sends `int`); receivers accept both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CapabilityValueKind {
    /// Counts, sizes and periods.
    Long,
    /// Flags.
    Boolean,
    /// `ArrayOfString` (only `AuthorizationDetails`).
    ArrayOfString,
}

/// The unit of a numeric capability, so that nobody passes milliseconds
/// where seconds are meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CapabilityUnit {
    /// A plain count.
    Count,
    /// Bytes (uncompressed unless stated).
    Bytes,
    /// Seconds.
    Seconds,
    /// The value is a flag or a list, not a number.
    NotNumeric,
}

/// A default value for a capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CapabilityDefault {
    /// A numeric default.
    Long(i64),
    /// A boolean default.
    Boolean(bool),
}

/// Which side of a protocol advertises a protocol capability, following the
/// ETP DevKit's per-protocol capability classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AdvertisingRole {
    /// Only the store (or producer) side.
    Store,
    /// Both the store and the customer side.
    Both,
}

/// Everything the notes say about one capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapabilitySpec {
    /// The map key.
    pub name: &'static str,
    /// Other spellings accepted on input (the DevKit writes
    /// `SupportsMessageHeaderExtension`, singular).
    pub aliases: &'static [&'static str],
    /// Which map the key lives in.
    pub scope: CapabilityScope,
    /// The `DataValue` branch of the value.
    pub value_kind: CapabilityValueKind,
    /// The unit of numeric values.
    pub unit: CapabilityUnit,
    /// The value to assume when the capability is absent, per the
    /// specification; `None` when it gives none (or the notes are unsure).
    pub spec_default: Option<CapabilityDefault>,
    /// Smallest value an endpoint may advertise.
    pub min: Option<i64>,
    /// Largest value an endpoint may advertise.
    pub max: Option<i64>,
    /// What the Energistics DevKit ships with: a sane default for our own
    /// advertisements when the specification gives none.
    pub devkit_default: Option<CapabilityDefault>,
    /// For protocol capabilities, the protocol numbers that carry it; empty
    /// for the other scopes.
    pub protocols: &'static [i32],
    /// For protocol capabilities, which side advertises it.
    pub advertised_by: Option<AdvertisingRole>,
    /// False for keys outside the three Avro enums.
    pub standard: bool,
}

impl CapabilitySpec {
    const fn endpoint(
        name: &'static str,
        value_kind: CapabilityValueKind,
        unit: CapabilityUnit,
    ) -> Self {
        CapabilitySpec {
            name,
            aliases: &[],
            scope: CapabilityScope::Endpoint,
            value_kind,
            unit,
            spec_default: None,
            min: None,
            max: None,
            devkit_default: None,
            protocols: &[],
            advertised_by: None,
            standard: true,
        }
    }

    const fn protocol(
        name: &'static str,
        value_kind: CapabilityValueKind,
        unit: CapabilityUnit,
        protocols: &'static [i32],
        advertised_by: AdvertisingRole,
    ) -> Self {
        CapabilitySpec {
            scope: CapabilityScope::Protocol,
            protocols,
            advertised_by: Some(advertised_by),
            ..CapabilitySpec::endpoint(name, value_kind, unit)
        }
    }

    const fn data_object(
        name: &'static str,
        value_kind: CapabilityValueKind,
        unit: CapabilityUnit,
    ) -> Self {
        CapabilitySpec {
            scope: CapabilityScope::DataObject,
            ..CapabilitySpec::endpoint(name, value_kind, unit)
        }
    }

    const fn with_spec_default_long(self, value: i64) -> Self {
        CapabilitySpec {
            spec_default: Some(CapabilityDefault::Long(value)),
            ..self
        }
    }

    const fn with_spec_default_bool(self, value: bool) -> Self {
        CapabilitySpec {
            spec_default: Some(CapabilityDefault::Boolean(value)),
            ..self
        }
    }

    const fn with_devkit_long(self, value: i64) -> Self {
        CapabilitySpec {
            devkit_default: Some(CapabilityDefault::Long(value)),
            ..self
        }
    }

    const fn with_devkit_bool(self, value: bool) -> Self {
        CapabilitySpec {
            devkit_default: Some(CapabilityDefault::Boolean(value)),
            ..self
        }
    }

    const fn with_min(self, min: i64) -> Self {
        CapabilitySpec {
            min: Some(min),
            ..self
        }
    }

    const fn with_max(self, max: i64) -> Self {
        CapabilitySpec {
            max: Some(max),
            ..self
        }
    }

    const fn with_aliases(self, aliases: &'static [&'static str]) -> Self {
        CapabilitySpec { aliases, ..self }
    }

    const fn nonstandard(self) -> Self {
        CapabilitySpec {
            standard: false,
            ..self
        }
    }

    /// Whether `key` names this capability (exactly, or as an alias).
    pub fn is_named(&self, key: &str) -> bool {
        self.name == key || self.aliases.contains(&key)
    }

    /// Whether this protocol capability belongs to `protocol`.
    pub fn applies_to_protocol(&self, protocol: i32) -> bool {
        self.protocols.contains(&protocol)
    }

    /// Brings a numeric value into the spec's `[min, max]` range.
    pub fn clamp(&self, value: i64) -> i64 {
        clamp_to_limits(value, self.min, self.max)
    }

    /// The spec default as a number, if it is numeric.
    pub fn spec_default_long(&self) -> Option<i64> {
        match self.spec_default {
            Some(CapabilityDefault::Long(value)) => Some(value),
            _ => None,
        }
    }

    /// The spec default as a flag, if it is boolean.
    pub fn spec_default_bool(&self) -> Option<bool> {
        match self.spec_default {
            Some(CapabilityDefault::Boolean(value)) => Some(value),
            _ => None,
        }
    }

    /// The value to advertise when configuration says nothing: the spec
    /// default, else the DevKit default, clamped to the spec limits.
    pub fn recommended_long(&self) -> Option<i64> {
        let value = match self.spec_default.or(self.devkit_default)? {
            CapabilityDefault::Long(value) => value,
            CapabilityDefault::Boolean(_) => return None,
        };
        Some(self.clamp(value))
    }

    /// Effective numeric value for a session: each side's value (or the spec
    /// default when a side is silent), the minimum of the two, clamped to the
    /// spec limits. `None` when neither side nor the spec gives a value.
    pub fn negotiate_long(&self, ours: Option<i64>, theirs: Option<i64>) -> Option<i64> {
        let default = self.spec_default_long();
        let ours = ours.or(default);
        let theirs = theirs.or(default);
        let combined = match (ours, theirs) {
            (Some(a), Some(b)) => a.min(b),
            (Some(one), None) | (None, Some(one)) => one,
            (None, None) => return None,
        };
        Some(self.clamp(combined))
    }

    /// Effective flag for a session: true only when both sides (after spec
    /// defaults) say true. `None` when neither side nor the spec gives one.
    pub fn negotiate_bool(&self, ours: Option<bool>, theirs: Option<bool>) -> Option<bool> {
        let default = self.spec_default_bool();
        match (ours.or(default), theirs.or(default)) {
            (Some(a), Some(b)) => Some(a && b),
            (Some(one), None) | (None, Some(one)) => Some(one),
            (None, None) => None,
        }
    }
}

/// The negotiation rule on plain numbers: the smaller of both sides' values,
/// clamped to the spec's `[min, max]` (as Geosiris etp-rs does, 01-core.md
/// §4.4).
pub fn negotiate_min_clamped(ours: i64, theirs: i64, min: Option<i64>, max: Option<i64>) -> i64 {
    clamp_to_limits(ours.min(theirs), min, max)
}

/// `value` raised to `min` and lowered to `max`; a missing limit is no limit.
/// If a table ever had `min > max`, `min` would win (never panics, unlike
/// `i64::clamp`).
fn clamp_to_limits(value: i64, min: Option<i64>, max: Option<i64>) -> i64 {
    let capped = max.map_or(value, |max| value.min(max));
    min.map_or(capped, |min| capped.max(min))
}

use AdvertisingRole::{Both, Store};
use CapabilityUnit::{Bytes, Count, Seconds};
use CapabilityValueKind::{ArrayOfString, Boolean, Long};

/// Endpoint capabilities (`EndpointCapabilityKind`, 17 symbols).
pub mod endpoint {
    use super::*;

    /// Minimum time a store keeps an object "Active" after the last change
    /// that made it active. The data object value overrides it.
    pub const ACTIVE_TIMEOUT_PERIOD: CapabilitySpec =
        CapabilitySpec::endpoint("ActiveTimeoutPeriod", Long, Seconds)
            .with_spec_default_long(3600)
            .with_min(60)
            .with_devkit_long(3600);
    /// WWW-Authenticate style challenges; a server that wants authorization
    /// must give at least one `Bearer` challenge.
    pub const AUTHORIZATION_DETAILS: CapabilitySpec = CapabilitySpec::endpoint(
        "AuthorizationDetails",
        ArrayOfString,
        CapabilityUnit::NotNumeric,
    );
    /// Maximum delay between a change and its notification / visibility.
    pub const CHANGE_PROPAGATION_PERIOD: CapabilitySpec =
        CapabilitySpec::endpoint("ChangePropagationPeriod", Long, Seconds)
            .with_spec_default_long(5)
            .with_min(1)
            .with_max(600)
            .with_devkit_long(5);
    /// Minimum time a store keeps tombstones and change annotations.
    pub const CHANGE_RETENTION_PERIOD: CapabilitySpec =
        CapabilitySpec::endpoint("ChangeRetentionPeriod", Long, Seconds)
            .with_spec_default_long(86400)
            .with_min(86400)
            .with_devkit_long(86400);
    /// Maximum multipart message sets in flight per protocol and direction.
    pub const MAX_CONCURRENT_MULTIPART: CapabilitySpec =
        CapabilitySpec::endpoint("MaxConcurrentMultipart", Long, Count)
            .with_min(1)
            .with_devkit_long(1000);
    /// Maximum uncompressed size of one data object, even when chunked.
    pub const MAX_DATA_OBJECT_SIZE: CapabilitySpec =
        CapabilitySpec::endpoint("MaxDataObjectSize", Long, Bytes)
            .with_min(100_000)
            .with_devkit_long(10_485_760);
    /// Maximum uncompressed size of one growing-object part.
    pub const MAX_PART_SIZE: CapabilitySpec = CapabilitySpec::endpoint("MaxPartSize", Long, Bytes)
        .with_min(100_000)
        .with_devkit_long(1_048_576);
    /// Maximum concurrent sessions for one client.
    pub const MAX_SESSION_CLIENT_COUNT: CapabilitySpec =
        CapabilitySpec::endpoint("MaxSessionClientCount", Long, Count)
            .with_min(2)
            .with_devkit_long(10_000);
    /// Maximum concurrent sessions for the endpoint overall.
    pub const MAX_SESSION_GLOBAL_COUNT: CapabilitySpec =
        CapabilitySpec::endpoint("MaxSessionGlobalCount", Long, Count)
            .with_min(2)
            .with_devkit_long(10_000);
    /// Maximum payload of one WebSocket frame; session value = min of both.
    pub const MAX_WEB_SOCKET_FRAME_PAYLOAD_SIZE: CapabilitySpec =
        CapabilitySpec::endpoint("MaxWebSocketFramePayloadSize", Long, Bytes)
            .with_devkit_long(4_194_304);
    /// Maximum payload of one WebSocket message; session value = min of both.
    pub const MAX_WEB_SOCKET_MESSAGE_PAYLOAD_SIZE: CapabilitySpec =
        CapabilitySpec::endpoint("MaxWebSocketMessagePayloadSize", Long, Bytes)
            .with_devkit_long(105_906_176);
    /// Maximum gap between two messages of the same multipart set.
    pub const MULTIPART_MESSAGE_TIMEOUT_PERIOD: CapabilitySpec =
        CapabilitySpec::endpoint("MultipartMessageTimeoutPeriod", Long, Seconds)
            .with_min(60)
            .with_devkit_long(1);
    /// Maximum time from a request to its first response.
    pub const RESPONSE_TIMEOUT_PERIOD: CapabilitySpec =
        CapabilitySpec::endpoint("ResponseTimeoutPeriod", Long, Seconds)
            .with_spec_default_long(300)
            .with_min(60)
            .with_devkit_long(300);
    /// How long a server waits for RequestSession after the upgrade.
    pub const REQUEST_SESSION_TIMEOUT_PERIOD: CapabilitySpec =
        CapabilitySpec::endpoint("RequestSessionTimeoutPeriod", Long, Seconds)
            .with_spec_default_long(45)
            .with_min(5);
    /// Maximum time from RequestSession to OpenSession.
    pub const SESSION_ESTABLISHMENT_TIMEOUT_PERIOD: CapabilitySpec =
        CapabilitySpec::endpoint("SessionEstablishmentTimeoutPeriod", Long, Seconds)
            .with_spec_default_long(60)
            .with_min(5);
    /// Whether alternate (non-canonical) URIs are accepted in requests.
    pub const SUPPORTS_ALTERNATE_REQUEST_URIS: CapabilitySpec = CapabilitySpec::endpoint(
        "SupportsAlternateRequestUris",
        Boolean,
        CapabilityUnit::NotNumeric,
    )
    .with_spec_default_bool(false)
    .with_devkit_bool(false);
    /// Whether header extensions may be sent to this endpoint.
    pub const SUPPORTS_MESSAGE_HEADER_EXTENSIONS: CapabilitySpec = CapabilitySpec::endpoint(
        "SupportsMessageHeaderExtensions",
        Boolean,
        CapabilityUnit::NotNumeric,
    )
    .with_aliases(&["SupportsMessageHeaderExtension"])
    .with_spec_default_bool(false)
    .with_devkit_bool(false);

    /// Sent by the OSDU server and accepted by pyetp, but not in
    /// `EndpointCapabilityKind`; presumably a size limit before compression.
    pub const MAX_MESSAGE_PAYLOAD_UNCOMPRESSED_SIZE: CapabilitySpec =
        CapabilitySpec::endpoint("MaxMessagePayloadUncompressedSize", Long, Bytes).nonstandard();
}

/// Protocol capabilities (`ProtocolCapabilityKind`, 13 symbols).
pub mod protocol {
    use super::*;

    /// Maximum time until channel updates are visible through
    /// ChannelDataFrame.
    pub const FRAME_CHANGE_DETECTION_PERIOD: CapabilitySpec =
        CapabilitySpec::protocol("FrameChangeDetectionPeriod", Long, Seconds, &[2], Store)
            .with_devkit_long(60);
    /// Largest array the store holds (product of dimensions × element size).
    pub const MAX_DATA_ARRAY_SIZE: CapabilitySpec =
        CapabilitySpec::protocol("MaxDataArraySize", Long, Bytes, &[9], Store)
            .with_devkit_long(10_485_760);
    /// Protocol-specific (lower) data object size limit. The notes suspect
    /// the endpoint minimum of 100000 applies too; unconfirmed, so no minimum.
    pub const MAX_DATA_OBJECT_SIZE: CapabilitySpec =
        CapabilitySpec::protocol("MaxDataObjectSize", Long, Bytes, &[4, 5, 14], Both)
            .with_devkit_long(10_485_760);
    /// Maximum rows in one complete GetFrame response.
    pub const MAX_FRAME_RESPONSE_ROW_COUNT: CapabilitySpec =
        CapabilitySpec::protocol("MaxFrameResponseRowCount", Long, Count, &[2], Both)
            .with_devkit_long(1_000_000);
    /// Maximum `requestLatestIndexCount` in SubscribeChannels.
    pub const MAX_INDEX_COUNT: CapabilitySpec =
        CapabilitySpec::protocol("MaxIndexCount", Long, Count, &[21], Store).with_devkit_long(100);
    /// Maximum channels in one range request.
    pub const MAX_RANGE_CHANNEL_COUNT: CapabilitySpec =
        CapabilitySpec::protocol("MaxRangeChannelCount", Long, Count, &[21, 22], Store)
            .with_devkit_long(10_000);
    /// Maximum DataItems in one complete range response.
    pub const MAX_RANGE_DATA_ITEM_COUNT: CapabilitySpec =
        CapabilitySpec::protocol("MaxRangeDataItemCount", Long, Count, &[21, 22], Both)
            .with_devkit_long(1_000_000_000);
    /// Maximum items in one complete list-shaped response; overflow ends with
    /// `ERESPONSECOUNT_EXCEEDED`. No spec default: the notes' "possibly
    /// 10000" is unconfirmed.
    pub const MAX_RESPONSE_COUNT: CapabilitySpec = CapabilitySpec::protocol(
        "MaxResponseCount",
        Long,
        Count,
        &[3, 6, 13, 14, 16, 24, 25],
        Both,
    )
    .with_devkit_long(100_000);
    /// Maximum channels open for streaming in one session.
    pub const MAX_STREAMING_CHANNELS_SESSION_COUNT: CapabilitySpec = CapabilitySpec::protocol(
        "MaxStreamingChannelsSessionCount",
        Long,
        Count,
        &[21, 22],
        Store,
    )
    .with_devkit_long(1_000_000);
    /// Maximum concurrent subscriptions in one session.
    pub const MAX_SUBSCRIPTION_SESSION_COUNT: CapabilitySpec =
        CapabilitySpec::protocol("MaxSubscriptionSessionCount", Long, Count, &[5, 7], Store)
            .with_devkit_long(10_000);
    /// Maximum parallel transactions in one session.
    pub const MAX_TRANSACTION_COUNT: CapabilitySpec =
        CapabilitySpec::protocol("MaxTransactionCount", Long, Count, &[18], Store)
            .with_devkit_long(1);
    /// Whether secondary-index intervals are honoured (default `false`, the
    /// conservative reading of an unconfirmed default).
    pub const SUPPORTS_SECONDARY_INDEX_FILTERING: CapabilitySpec = CapabilitySpec::protocol(
        "SupportsSecondaryIndexFiltering",
        Boolean,
        CapabilityUnit::NotNumeric,
        &[2, 21],
        Store,
    )
    .with_spec_default_bool(false);
    /// Maximum time between StartTransactionResponse and Commit/Rollback.
    pub const TRANSACTION_TIMEOUT_PERIOD: CapabilitySpec =
        CapabilitySpec::protocol("TransactionTimeoutPeriod", Long, Seconds, &[18], Store)
            .with_devkit_long(600);
}

/// Data object capabilities (`DataObjectCapabilityKind`, 8 symbols). The
/// specification defaults are unknown to us: always send them explicitly.
pub mod data_object {
    use super::*;

    /// Object-specific override of the endpoint `ActiveTimeoutPeriod`.
    pub const ACTIVE_TIMEOUT_PERIOD: CapabilitySpec =
        CapabilitySpec::data_object("ActiveTimeoutPeriod", Long, Seconds).with_devkit_long(3600);
    /// Maximum contained data objects in one container instance.
    pub const MAX_CONTAINED_DATA_OBJECT_COUNT: CapabilitySpec =
        CapabilitySpec::data_object("MaxContainedDataObjectCount", Long, Count)
            .with_devkit_long(10_000);
    /// Object-specific size limit (overrides the endpoint value).
    pub const MAX_DATA_OBJECT_SIZE: CapabilitySpec =
        CapabilitySpec::data_object("MaxDataObjectSize", Long, Bytes).with_devkit_long(10_485_760);
    /// Whether contained objects orphaned by a delete are deleted too.
    pub const ORPHANED_CHILDREN_PRUNED_ON_DELETE: CapabilitySpec = CapabilitySpec::data_object(
        "OrphanedChildrenPrunedOnDelete",
        Boolean,
        CapabilityUnit::NotNumeric,
    )
    .with_devkit_bool(false);
    /// Whether Get operations are allowed for this type.
    pub const SUPPORTS_GET: CapabilitySpec =
        CapabilitySpec::data_object("SupportsGet", Boolean, CapabilityUnit::NotNumeric)
            .with_devkit_bool(true);
    /// Whether Put operations are allowed for this type.
    pub const SUPPORTS_PUT: CapabilitySpec =
        CapabilitySpec::data_object("SupportsPut", Boolean, CapabilityUnit::NotNumeric)
            .with_devkit_bool(true);
    /// Whether Delete operations are allowed for this type.
    pub const SUPPORTS_DELETE: CapabilitySpec =
        CapabilitySpec::data_object("SupportsDelete", Boolean, CapabilityUnit::NotNumeric)
            .with_devkit_bool(true);
    /// Maximum secondary indexes for a channel type.
    pub const MAX_SECONDARY_INDEX_COUNT: CapabilitySpec =
        CapabilitySpec::data_object("MaxSecondaryIndexCount", Long, Count);
}

/// The 17 `EndpointCapabilityKind` symbols, in schema order.
pub const ENDPOINT_CAPABILITIES: [CapabilitySpec; 17] = [
    endpoint::ACTIVE_TIMEOUT_PERIOD,
    endpoint::AUTHORIZATION_DETAILS,
    endpoint::CHANGE_PROPAGATION_PERIOD,
    endpoint::CHANGE_RETENTION_PERIOD,
    endpoint::MAX_CONCURRENT_MULTIPART,
    endpoint::MAX_DATA_OBJECT_SIZE,
    endpoint::MAX_PART_SIZE,
    endpoint::MAX_SESSION_CLIENT_COUNT,
    endpoint::MAX_SESSION_GLOBAL_COUNT,
    endpoint::MAX_WEB_SOCKET_FRAME_PAYLOAD_SIZE,
    endpoint::MAX_WEB_SOCKET_MESSAGE_PAYLOAD_SIZE,
    endpoint::MULTIPART_MESSAGE_TIMEOUT_PERIOD,
    endpoint::RESPONSE_TIMEOUT_PERIOD,
    endpoint::REQUEST_SESSION_TIMEOUT_PERIOD,
    endpoint::SESSION_ESTABLISHMENT_TIMEOUT_PERIOD,
    endpoint::SUPPORTS_ALTERNATE_REQUEST_URIS,
    endpoint::SUPPORTS_MESSAGE_HEADER_EXTENSIONS,
];

/// Endpoint keys outside the standard enum that we know and accept.
pub const NONSTANDARD_ENDPOINT_CAPABILITIES: [CapabilitySpec; 1] =
    [endpoint::MAX_MESSAGE_PAYLOAD_UNCOMPRESSED_SIZE];

/// The 13 `ProtocolCapabilityKind` symbols, in schema order.
pub const PROTOCOL_CAPABILITIES: [CapabilitySpec; 13] = [
    protocol::FRAME_CHANGE_DETECTION_PERIOD,
    protocol::MAX_DATA_ARRAY_SIZE,
    protocol::MAX_DATA_OBJECT_SIZE,
    protocol::MAX_FRAME_RESPONSE_ROW_COUNT,
    protocol::MAX_INDEX_COUNT,
    protocol::MAX_RANGE_CHANNEL_COUNT,
    protocol::MAX_RANGE_DATA_ITEM_COUNT,
    protocol::MAX_RESPONSE_COUNT,
    protocol::MAX_STREAMING_CHANNELS_SESSION_COUNT,
    protocol::MAX_SUBSCRIPTION_SESSION_COUNT,
    protocol::MAX_TRANSACTION_COUNT,
    protocol::SUPPORTS_SECONDARY_INDEX_FILTERING,
    protocol::TRANSACTION_TIMEOUT_PERIOD,
];

/// The 8 `DataObjectCapabilityKind` symbols, in schema order.
pub const DATA_OBJECT_CAPABILITIES: [CapabilitySpec; 8] = [
    data_object::ACTIVE_TIMEOUT_PERIOD,
    data_object::MAX_CONTAINED_DATA_OBJECT_COUNT,
    data_object::MAX_DATA_OBJECT_SIZE,
    data_object::ORPHANED_CHILDREN_PRUNED_ON_DELETE,
    data_object::SUPPORTS_GET,
    data_object::SUPPORTS_PUT,
    data_object::SUPPORTS_DELETE,
    data_object::MAX_SECONDARY_INDEX_COUNT,
];

/// The standard capabilities of one scope.
pub fn standard_capabilities(scope: CapabilityScope) -> &'static [CapabilitySpec] {
    match scope {
        CapabilityScope::Endpoint => &ENDPOINT_CAPABILITIES,
        CapabilityScope::Protocol => &PROTOCOL_CAPABILITIES,
        CapabilityScope::DataObject => &DATA_OBJECT_CAPABILITIES,
    }
}

/// Finds a capability by map key (exact name or alias) in one scope,
/// including the known non-standard endpoint keys. Unknown keys give `None`;
/// receivers ignore them.
pub fn lookup(scope: CapabilityScope, key: &str) -> Option<&'static CapabilitySpec> {
    let nonstandard: &'static [CapabilitySpec] = match scope {
        CapabilityScope::Endpoint => &NONSTANDARD_ENDPOINT_CAPABILITIES,
        CapabilityScope::Protocol | CapabilityScope::DataObject => &[],
    };
    standard_capabilities(scope)
        .iter()
        .chain(nonstandard)
        .find(|spec| spec.is_named(key))
}

/// The protocol capabilities that belong to `protocol` (e.g. 18 →
/// `MaxTransactionCount`, `TransactionTimeoutPeriod`).
pub fn protocol_capabilities_for(protocol: i32) -> impl Iterator<Item = &'static CapabilitySpec> {
    PROTOCOL_CAPABILITIES
        .iter()
        .filter(move |spec| spec.applies_to_protocol(protocol))
}

/// Whether pyetp's OpenSession decoder accepts `key` in
/// `endpointCapabilities`: the 17 standard names (exact spelling, no
/// aliases) and `MaxMessagePayloadUncompressedSize`. Any other key kills the
/// client.
pub fn pyetp_accepts_endpoint_key(key: &str) -> bool {
    ENDPOINT_CAPABILITIES
        .iter()
        .chain(&NONSTANDARD_ENDPOINT_CAPABILITIES)
        .any(|spec| spec.name == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Hard-coded from etp.avpr (the three *CapabilityKind enums), so that
    // tests never read /work/shared at run time.
    const AVPR_ENDPOINT: [&str; 17] = [
        "ActiveTimeoutPeriod",
        "AuthorizationDetails",
        "ChangePropagationPeriod",
        "ChangeRetentionPeriod",
        "MaxConcurrentMultipart",
        "MaxDataObjectSize",
        "MaxPartSize",
        "MaxSessionClientCount",
        "MaxSessionGlobalCount",
        "MaxWebSocketFramePayloadSize",
        "MaxWebSocketMessagePayloadSize",
        "MultipartMessageTimeoutPeriod",
        "ResponseTimeoutPeriod",
        "RequestSessionTimeoutPeriod",
        "SessionEstablishmentTimeoutPeriod",
        "SupportsAlternateRequestUris",
        "SupportsMessageHeaderExtensions",
    ];
    const AVPR_PROTOCOL: [&str; 13] = [
        "FrameChangeDetectionPeriod",
        "MaxDataArraySize",
        "MaxDataObjectSize",
        "MaxFrameResponseRowCount",
        "MaxIndexCount",
        "MaxRangeChannelCount",
        "MaxRangeDataItemCount",
        "MaxResponseCount",
        "MaxStreamingChannelsSessionCount",
        "MaxSubscriptionSessionCount",
        "MaxTransactionCount",
        "SupportsSecondaryIndexFiltering",
        "TransactionTimeoutPeriod",
    ];
    const AVPR_DATA_OBJECT: [&str; 8] = [
        "ActiveTimeoutPeriod",
        "MaxContainedDataObjectCount",
        "MaxDataObjectSize",
        "OrphanedChildrenPrunedOnDelete",
        "SupportsGet",
        "SupportsPut",
        "SupportsDelete",
        "MaxSecondaryIndexCount",
    ];

    fn names(specs: &[CapabilitySpec]) -> Vec<&'static str> {
        specs.iter().map(|spec| spec.name).collect()
    }

    #[test]
    fn tables_match_the_avro_enums_in_order() {
        assert_eq!(names(&ENDPOINT_CAPABILITIES), AVPR_ENDPOINT);
        assert_eq!(names(&PROTOCOL_CAPABILITIES), AVPR_PROTOCOL);
        assert_eq!(names(&DATA_OBJECT_CAPABILITIES), AVPR_DATA_OBJECT);
    }

    #[test]
    fn every_entry_is_consistent() {
        for scope in [
            CapabilityScope::Endpoint,
            CapabilityScope::Protocol,
            CapabilityScope::DataObject,
        ] {
            for spec in standard_capabilities(scope) {
                assert_eq!(spec.scope, scope, "{}", spec.name);
                assert!(spec.standard, "{}", spec.name);
                assert_eq!(lookup(scope, spec.name), Some(spec));
                match spec.value_kind {
                    Long => assert_ne!(spec.unit, CapabilityUnit::NotNumeric, "{}", spec.name),
                    Boolean | ArrayOfString => {
                        assert_eq!(spec.unit, CapabilityUnit::NotNumeric, "{}", spec.name);
                        assert!(spec.min.is_none() && spec.max.is_none(), "{}", spec.name);
                    }
                }
                for default in [spec.spec_default, spec.devkit_default]
                    .into_iter()
                    .flatten()
                {
                    let kind_matches = matches!(
                        (default, spec.value_kind),
                        (CapabilityDefault::Long(_), Long)
                            | (CapabilityDefault::Boolean(_), Boolean)
                    );
                    assert!(kind_matches, "{}", spec.name);
                }
                if let (Some(min), Some(default)) = (spec.min, spec.spec_default_long()) {
                    assert!(default >= min, "{}", spec.name);
                }
                if let (Some(max), Some(default)) = (spec.max, spec.spec_default_long()) {
                    assert!(default <= max, "{}", spec.name);
                }
                let is_protocol = scope == CapabilityScope::Protocol;
                assert_eq!(!spec.protocols.is_empty(), is_protocol, "{}", spec.name);
                assert_eq!(spec.advertised_by.is_some(), is_protocol, "{}", spec.name);
            }
        }
    }

    #[test]
    fn spec_values_from_the_notes() {
        let e = &endpoint::CHANGE_PROPAGATION_PERIOD;
        assert_eq!(
            (e.spec_default_long(), e.min, e.max),
            (Some(5), Some(1), Some(600))
        );
        assert_eq!(
            endpoint::ACTIVE_TIMEOUT_PERIOD.spec_default_long(),
            Some(3600)
        );
        assert_eq!(endpoint::CHANGE_RETENTION_PERIOD.min, Some(86400));
        assert_eq!(
            endpoint::RESPONSE_TIMEOUT_PERIOD.spec_default_long(),
            Some(300)
        );
        assert_eq!(
            endpoint::REQUEST_SESSION_TIMEOUT_PERIOD.spec_default_long(),
            Some(45)
        );
        assert_eq!(
            endpoint::SESSION_ESTABLISHMENT_TIMEOUT_PERIOD.spec_default_long(),
            Some(60)
        );
        assert_eq!(endpoint::MAX_DATA_OBJECT_SIZE.min, Some(100_000));
        assert_eq!(
            endpoint::SUPPORTS_ALTERNATE_REQUEST_URIS.spec_default_bool(),
            Some(false)
        );
        assert_eq!(endpoint::AUTHORIZATION_DETAILS.value_kind, ArrayOfString);
        assert_eq!(
            protocol::SUPPORTS_SECONDARY_INDEX_FILTERING.value_kind,
            Boolean
        );
        assert_eq!(
            data_object::SUPPORTS_PUT.devkit_default,
            Some(CapabilityDefault::Boolean(true))
        );
    }

    #[test]
    fn protocol_membership() {
        let transaction: Vec<_> = protocol_capabilities_for(18)
            .map(|spec| spec.name)
            .collect();
        assert_eq!(
            transaction,
            ["MaxTransactionCount", "TransactionTimeoutPeriod"]
        );
        let discovery: Vec<_> = protocol_capabilities_for(3).map(|spec| spec.name).collect();
        assert_eq!(discovery, ["MaxResponseCount"]);
        let store: Vec<_> = protocol_capabilities_for(4).map(|spec| spec.name).collect();
        assert_eq!(store, ["MaxDataObjectSize"]);
        let data_array: Vec<_> = protocol_capabilities_for(9).map(|spec| spec.name).collect();
        assert_eq!(data_array, ["MaxDataArraySize"]);
        assert_eq!(protocol_capabilities_for(0).count(), 0);
        assert!(protocol::MAX_RESPONSE_COUNT.applies_to_protocol(24));
        assert_eq!(protocol::MAX_RESPONSE_COUNT.advertised_by, Some(Both));
        assert_eq!(protocol::MAX_TRANSACTION_COUNT.advertised_by, Some(Store));
    }

    #[test]
    fn lookup_handles_aliases_and_nonstandard_keys() {
        assert_eq!(
            lookup(CapabilityScope::Endpoint, "SupportsMessageHeaderExtension"),
            Some(&endpoint::SUPPORTS_MESSAGE_HEADER_EXTENSIONS)
        );
        let nonstandard = lookup(
            CapabilityScope::Endpoint,
            "MaxMessagePayloadUncompressedSize",
        );
        assert_eq!(nonstandard.map(|spec| spec.standard), Some(false));
        assert_eq!(
            lookup(
                CapabilityScope::Protocol,
                "MaxMessagePayloadUncompressedSize"
            ),
            None
        );
        assert_eq!(lookup(CapabilityScope::Endpoint, "MessageQueueDepth"), None);
        assert_eq!(lookup(CapabilityScope::Endpoint, "maxdataobjectsize"), None);
        // Same name, different scope, different entry.
        assert_eq!(
            lookup(CapabilityScope::DataObject, "MaxDataObjectSize"),
            Some(&data_object::MAX_DATA_OBJECT_SIZE)
        );
    }

    #[test]
    fn pyetp_endpoint_keys() {
        for name in AVPR_ENDPOINT {
            assert!(pyetp_accepts_endpoint_key(name), "{name}");
        }
        assert!(pyetp_accepts_endpoint_key(
            "MaxMessagePayloadUncompressedSize"
        ));
        assert!(!pyetp_accepts_endpoint_key("MessageQueueDepth"));
        assert!(!pyetp_accepts_endpoint_key(
            "SupportsMessageHeaderExtension"
        ));
        assert!(!pyetp_accepts_endpoint_key("MaxTransactionCount"));
    }

    #[test]
    fn negotiation_takes_the_minimum_and_clamps() {
        assert_eq!(negotiate_min_clamped(10, 20, None, None), 10);
        assert_eq!(negotiate_min_clamped(10, 20, Some(15), None), 15);
        assert_eq!(negotiate_min_clamped(900, 700, Some(1), Some(600)), 600);
        assert_eq!(
            negotiate_min_clamped(i64::MIN, i64::MAX, Some(0), Some(5)),
            0
        );
        assert_eq!(negotiate_min_clamped(3, 4, Some(10), Some(5)), 10);

        let frame = &endpoint::MAX_WEB_SOCKET_MESSAGE_PAYLOAD_SIZE;
        assert_eq!(
            frame.negotiate_long(Some(16_000_000), Some(1_048_576)),
            Some(1_048_576)
        );
        assert_eq!(
            frame.negotiate_long(Some(16_000_000), None),
            Some(16_000_000)
        );
        assert_eq!(frame.negotiate_long(None, None), None);

        let propagation = &endpoint::CHANGE_PROPAGATION_PERIOD;
        assert_eq!(propagation.negotiate_long(None, None), Some(5));
        assert_eq!(propagation.negotiate_long(Some(10), None), Some(5));
        assert_eq!(propagation.negotiate_long(Some(0), Some(10)), Some(1));
        assert_eq!(
            propagation.negotiate_long(Some(10_000), Some(9_000)),
            Some(600)
        );

        let alternate = &endpoint::SUPPORTS_ALTERNATE_REQUEST_URIS;
        assert_eq!(alternate.negotiate_bool(Some(true), None), Some(false));
        assert_eq!(alternate.negotiate_bool(Some(true), Some(true)), Some(true));
        let get = &data_object::SUPPORTS_GET;
        assert_eq!(get.negotiate_bool(Some(true), None), Some(true));
        assert_eq!(get.negotiate_bool(None, None), None);
    }

    #[test]
    fn recommended_values_respect_limits() {
        assert_eq!(
            endpoint::MULTIPART_MESSAGE_TIMEOUT_PERIOD.recommended_long(),
            Some(60)
        );
        assert_eq!(
            endpoint::RESPONSE_TIMEOUT_PERIOD.recommended_long(),
            Some(300)
        );
        assert_eq!(
            protocol::MAX_RESPONSE_COUNT.recommended_long(),
            Some(100_000)
        );
        assert_eq!(
            endpoint::SUPPORTS_ALTERNATE_REQUEST_URIS.recommended_long(),
            None
        );
        assert_eq!(
            data_object::MAX_SECONDARY_INDEX_COUNT.recommended_long(),
            None
        );
        for spec in ENDPOINT_CAPABILITIES
            .iter()
            .chain(&PROTOCOL_CAPABILITIES)
            .chain(&DATA_OBJECT_CAPABILITIES)
        {
            if let Some(value) = spec.recommended_long() {
                assert_eq!(spec.clamp(value), value, "{}", spec.name);
            }
        }
    }
}
