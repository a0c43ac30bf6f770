//! ETP error codes, the `code` of `ErrorInfo` in `ProtocolException`
//! (02-errors-capabilities.md §1).
//!
//! [`ErrorCode`] is a newtype over the wire `int` rather than an enum because
//! a peer may send any number, and we must be able to log and forward codes we
//! do not know. The known codes are associated constants named after the
//! specification's mnemonics, so they can be used in `match` patterns.

use std::fmt;

/// An ETP error code as carried in `ErrorInfo.code`. Any `i32` is
/// representable; [`ErrorCode::is_known`] tells whether it is one of the
/// codes defined by ETP 1.2 (or kept from 1.1).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct ErrorCode(i32);

/// What we know about one defined code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCodeInfo {
    /// The code.
    pub code: ErrorCode,
    /// The specification's mnemonic (`EINVALID_URI`).
    pub mnemonic: &'static str,
    /// Other mnemonics used for the same number by some implementations
    /// (`EEXPIRED_TOKEN` for 10), accepted by [`ErrorCode::from_mnemonic`].
    pub aliases: &'static [&'static str],
    /// One-line meaning, paraphrased from the specification.
    pub description: &'static str,
}

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $name:ident = $code:literal, [$($alias:literal),*], $description:literal; )*) => {
        impl ErrorCode {
            $(
                $(#[$doc])*
                pub const $name: ErrorCode = ErrorCode($code);
            )*
        }

        /// Every defined code in ascending order, with mnemonic and meaning.
        pub const ERROR_CODES: &[ErrorCodeInfo] = &[
            $(
                ErrorCodeInfo {
                    code: ErrorCode($code),
                    mnemonic: stringify!($name),
                    aliases: &[$($alias),*],
                    description: $description,
                },
            )*
        ];
    };
}

error_codes! {
    /// The endpoint does not support the requested role for a protocol.
    ENOROLE = 1, [], "the endpoint does not support the requested role for a protocol";
    /// None of the protocols requested in RequestSession is supported.
    ENOSUPPORTEDPROTOCOLS = 2, [], "none of the requested protocols is supported";
    /// Unknown message type, or one the receiving role must never receive.
    EINVALID_MESSAGETYPE = 3, [], "message type unknown or not valid for the receiving role";
    /// The protocol in the header is not supported or was not negotiated.
    EUNSUPPORTED_PROTOCOL = 4, [], "protocol not supported or not negotiated in this session";
    /// A logically invalid argument; the generic "bad request".
    EINVALID_ARGUMENT = 5, [], "invalid argument";
    /// The receiver refuses the request (permissions, immutable fields...).
    EREQUEST_DENIED = 6, ["EPERMISSION_DENIED"], "request denied";
    /// The operation is not supported by this endpoint.
    ENOTSUPPORTED = 7, [], "operation not supported";
    /// The message is not allowed in the current state.
    EINVALID_STATE = 8, [], "message not allowed in the current state";
    /// URI malformed, not an ETP 1.2 URI, of the wrong kind, or an alternate
    /// URI the store does not accept.
    EINVALID_URI = 9, [], "invalid URI";
    /// Sent before ending the session because the authorization expired.
    EAUTHORIZATION_EXPIRED = 10, ["EEXPIRED_TOKEN"], "authorization expired";
    /// Resource, data object, part, range, array or dataspace not found.
    ENOT_FOUND = 11, [], "not found";
    /// A limit stated by the other side is exceeded and no more specific
    /// code applies.
    ELIMIT_EXCEEDED = 12, [], "limit exceeded";
    /// A compressed message in Core (protocol 0), which must never be
    /// compressed.
    ECOMPRESSION_NOTSUPPORTED = 13, [], "compression not supported for this message";
    /// Invalid or malformed data object (XML or JSON).
    EINVALID_OBJECT = 14, [], "invalid data object";
    /// Too many transactions (Transaction allows one per session).
    EMAX_TRANSACTIONS_EXCEEDED = 15, [], "maximum number of transactions exceeded";
    /// Data object type unsupported or not negotiated for this session.
    EDATAOBJECTTYPE_NOTSUPPORTED = 16, ["ECONTENT_TYPE_NOTSUPPORTED"], "data object type not supported";
    /// A get or put exceeds MaxDataObjectSize, MaxPartSize or MaxDataArraySize.
    EMAXSIZE_EXCEEDED = 17, [], "maximum size exceeded";
    /// Transmission of a multipart request or response was cancelled.
    EMULTIPART_CANCELLED = 18, [], "multipart message cancelled";
    /// Header or body cannot be decoded.
    EINVALID_MESSAGE = 19, [], "message cannot be decoded";
    /// Index kind invalid for the data.
    EINVALID_INDEXKIND = 20, [], "invalid index kind";
    /// None of the client's formats is supported.
    ENOSUPPORTEDFORMATS = 21, [], "no supported formats";
    /// The store rejects a customer-chosen requestUuid (usually not unique).
    EREQUESTUUID_REJECTED = 22, [], "request UUID rejected";
    /// Store put of an existing growing object, or a GrowingObject header put
    /// that contains parts.
    EUPDATEGROWINGOBJECT_DENIED = 23, [], "update of growing object denied";
    /// The sender's queues are exhausted; it closes the session next.
    EBACKPRESSURE_LIMIT_EXCEEDED = 24, [], "backpressure limit exceeded";
    /// Optional warning that outgoing queues are filling.
    EBACKPRESSURE_WARNING = 25, [], "backpressure warning";
    /// Cancelled because a time limit was exceeded.
    ETIMED_OUT = 26, [], "timed out";
    /// During session negotiation: the other endpoint must authorize first.
    EAUTHORIZATION_REQUIRED = 27, [], "authorization required";
    /// Optional warning that the authorization expires soon.
    EAUTHORIZATION_EXPIRING = 28, [], "authorization expiring";
    /// None of the client's data object types is supported.
    ENOSUPPORTEDDATAOBJECTTYPES = 29, [], "no supported data object types";
    /// A list response was cut off at MaxResponseCount (or
    /// MaxRangeDataItemCount); there is more data.
    ERESPONSECOUNT_EXCEEDED = 30, [], "response count exceeded";
    /// A ChannelData message does not append to the channel.
    EINVALID_APPEND = 31, [], "invalid append";
    /// The requested operation is invalid.
    EINVALID_OPERATION = 32, [], "invalid operation";
    /// Operation on a channel id not valid in this session.
    EINVALID_CHANNELID = 1002, [], "invalid channel id";
    /// ETP 1.1 code for an unsupported object. Not in pyetp's enum: sending
    /// it crashes pyetp; send [`ErrorCode::EDATAOBJECTTYPE_NOTSUPPORTED`].
    EUNSUPPORTED_OBJECT = 4001, [], "unsupported object (ETP 1.1)";
    /// Delete of an object with children when the store cannot cascade.
    ENOCASCADE_DELETE = 4003, [], "cascade delete not supported";
    /// Put of several objects under the plural root of a 1.x data object.
    EPLURAL_OBJECT = 4004, [], "plural object";
    /// ETP 1.1: object accepted but its growing portion ignored. Not in
    /// pyetp's enum; never send it to pyetp.
    EGROWING_PORTION_IGNORED = 4005, [], "growing portion ignored (ETP 1.1)";
    /// Changes older than the store's retention period were asked for.
    ERETENTION_PERIOD_EXCEEDED = 5001, [], "retention period exceeded";
    /// Growing-object operation on a type that is not a growing object.
    ENOTGROWINGOBJECT = 6001, [], "not a growing object";
}

impl ErrorCode {
    /// Wraps any received number; never fails, because unknown codes from a
    /// peer must survive to be logged.
    pub const fn from_code(code: i32) -> Self {
        ErrorCode(code)
    }

    /// The number on the wire.
    pub const fn code(self) -> i32 {
        self.0
    }

    /// The defined code's table entry, `None` for unknown numbers (including
    /// 0 and -1, which some implementations use internally and which must
    /// never be sent).
    pub fn info(self) -> Option<&'static ErrorCodeInfo> {
        ERROR_CODES.iter().find(|info| info.code == self)
    }

    /// Whether ETP defines this number.
    pub fn is_known(self) -> bool {
        self.info().is_some()
    }

    /// The specification mnemonic, `None` for unknown numbers.
    pub fn mnemonic(self) -> Option<&'static str> {
        self.info().map(|info| info.mnemonic)
    }

    /// A one-line meaning for logs and default error messages.
    pub fn description(self) -> &'static str {
        self.info()
            .map_or("unrecognised error code", |info| info.description)
    }

    /// Finds a code by its mnemonic or one of the aliases other
    /// implementations use (`EEXPIRED_TOKEN`, `ECONTENT_TYPE_NOTSUPPORTED`,
    /// `EPERMISSION_DENIED`), ignoring ASCII case.
    pub fn from_mnemonic(mnemonic: &str) -> Option<Self> {
        ERROR_CODES
            .iter()
            .find(|info| {
                info.mnemonic.eq_ignore_ascii_case(mnemonic)
                    || info
                        .aliases
                        .iter()
                        .any(|alias| alias.eq_ignore_ascii_case(mnemonic))
            })
            .map(|info| info.code)
    }

    /// Whether pyetp can decode a ProtocolException carrying this code. Its
    /// decoder rejects everything outside 1–32, 1002, 4003, 4004, 5001 and
    /// 6001, and the failure kills the client, so a server must never send
    /// anything else to it.
    pub const fn is_safe_for_pyetp(self) -> bool {
        matches!(self.0, 1..=32 | 1002 | 4003 | 4004 | 5001 | 6001)
    }
}

impl From<i32> for ErrorCode {
    fn from(code: i32) -> Self {
        ErrorCode(code)
    }
}

impl From<ErrorCode> for i32 {
    fn from(code: ErrorCode) -> Self {
        code.0
    }
}

impl fmt::Display for ErrorCode {
    /// `EINVALID_URI (9)`, or `unknown error code 12345`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.mnemonic() {
            Some(mnemonic) => write!(f, "{mnemonic} ({})", self.0),
            None => write!(f, "unknown error code {}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table of 02-errors-capabilities.md §1, hard-coded.
    const EXPECTED: [(i32, &str); 39] = [
        (1, "ENOROLE"),
        (2, "ENOSUPPORTEDPROTOCOLS"),
        (3, "EINVALID_MESSAGETYPE"),
        (4, "EUNSUPPORTED_PROTOCOL"),
        (5, "EINVALID_ARGUMENT"),
        (6, "EREQUEST_DENIED"),
        (7, "ENOTSUPPORTED"),
        (8, "EINVALID_STATE"),
        (9, "EINVALID_URI"),
        (10, "EAUTHORIZATION_EXPIRED"),
        (11, "ENOT_FOUND"),
        (12, "ELIMIT_EXCEEDED"),
        (13, "ECOMPRESSION_NOTSUPPORTED"),
        (14, "EINVALID_OBJECT"),
        (15, "EMAX_TRANSACTIONS_EXCEEDED"),
        (16, "EDATAOBJECTTYPE_NOTSUPPORTED"),
        (17, "EMAXSIZE_EXCEEDED"),
        (18, "EMULTIPART_CANCELLED"),
        (19, "EINVALID_MESSAGE"),
        (20, "EINVALID_INDEXKIND"),
        (21, "ENOSUPPORTEDFORMATS"),
        (22, "EREQUESTUUID_REJECTED"),
        (23, "EUPDATEGROWINGOBJECT_DENIED"),
        (24, "EBACKPRESSURE_LIMIT_EXCEEDED"),
        (25, "EBACKPRESSURE_WARNING"),
        (26, "ETIMED_OUT"),
        (27, "EAUTHORIZATION_REQUIRED"),
        (28, "EAUTHORIZATION_EXPIRING"),
        (29, "ENOSUPPORTEDDATAOBJECTTYPES"),
        (30, "ERESPONSECOUNT_EXCEEDED"),
        (31, "EINVALID_APPEND"),
        (32, "EINVALID_OPERATION"),
        (1002, "EINVALID_CHANNELID"),
        (4001, "EUNSUPPORTED_OBJECT"),
        (4003, "ENOCASCADE_DELETE"),
        (4004, "EPLURAL_OBJECT"),
        (4005, "EGROWING_PORTION_IGNORED"),
        (5001, "ERETENTION_PERIOD_EXCEEDED"),
        (6001, "ENOTGROWINGOBJECT"),
    ];

    #[test]
    fn table_is_complete_and_ordered() {
        assert_eq!(ERROR_CODES.len(), EXPECTED.len());
        for (info, (code, mnemonic)) in ERROR_CODES.iter().zip(EXPECTED) {
            assert_eq!(info.code.code(), code);
            assert_eq!(info.mnemonic, mnemonic);
            assert!(!info.description.is_empty());
            assert_eq!(ErrorCode::from_code(code).mnemonic(), Some(mnemonic));
            assert_eq!(ErrorCode::from_mnemonic(mnemonic), Some(info.code));
        }
        assert!(ERROR_CODES.windows(2).all(|pair| match pair {
            [a, b] => a.code < b.code,
            _ => true,
        }));
    }

    #[test]
    fn constants_have_the_right_numbers() {
        assert_eq!(ErrorCode::EINVALID_URI.code(), 9);
        assert_eq!(ErrorCode::ENOT_FOUND.code(), 11);
        assert_eq!(ErrorCode::EDATAOBJECTTYPE_NOTSUPPORTED.code(), 16);
        assert_eq!(ErrorCode::ENOTGROWINGOBJECT.code(), 6001);
        assert_eq!(i32::from(ErrorCode::EINVALID_CHANNELID), 1002);
        assert_eq!(ErrorCode::from(14), ErrorCode::EINVALID_OBJECT);
    }

    #[test]
    fn constants_work_as_patterns() {
        let received = ErrorCode::from_code(15);
        let retry = match received {
            ErrorCode::EMAX_TRANSACTIONS_EXCEEDED => true,
            ErrorCode::EINVALID_STATE => false,
            _ => false,
        };
        assert!(retry);
    }

    #[test]
    fn unknown_codes_are_representable() {
        for code in [0, -1, 33, 1001, 4002, 9999, i32::MIN, i32::MAX] {
            let error = ErrorCode::from_code(code);
            assert_eq!(error.code(), code);
            assert!(!error.is_known());
            assert_eq!(error.mnemonic(), None);
            assert_eq!(error.description(), "unrecognised error code");
            assert_eq!(error.to_string(), format!("unknown error code {code}"));
        }
        assert_eq!(ErrorCode::EINVALID_URI.to_string(), "EINVALID_URI (9)");
    }

    #[test]
    fn aliases_map_to_the_same_number() {
        assert_eq!(
            ErrorCode::from_mnemonic("EEXPIRED_TOKEN"),
            Some(ErrorCode::EAUTHORIZATION_EXPIRED)
        );
        assert_eq!(
            ErrorCode::from_mnemonic("ECONTENT_TYPE_NOTSUPPORTED"),
            Some(ErrorCode::EDATAOBJECTTYPE_NOTSUPPORTED)
        );
        assert_eq!(
            ErrorCode::from_mnemonic("EPERMISSION_DENIED"),
            Some(ErrorCode::EREQUEST_DENIED)
        );
        assert_eq!(
            ErrorCode::from_mnemonic("einvalid_uri"),
            Some(ErrorCode::EINVALID_URI)
        );
        assert_eq!(ErrorCode::from_mnemonic("IS_OK"), None);
    }

    #[test]
    fn pyetp_safe_set() {
        let safe: Vec<i32> = (1..=32).chain([1002, 4003, 4004, 5001, 6001]).collect();
        for (code, _) in EXPECTED {
            assert_eq!(
                ErrorCode::from_code(code).is_safe_for_pyetp(),
                safe.contains(&code),
                "{code}"
            );
        }
        for code in [0, -1, 33, 4001, 4005, 1001] {
            assert!(!ErrorCode::from_code(code).is_safe_for_pyetp(), "{code}");
        }
    }

    #[test]
    fn serde_is_the_plain_number() {
        assert_eq!(serde_json::to_string(&ErrorCode::ENOT_FOUND).unwrap(), "11");
        assert_eq!(
            serde_json::from_str::<ErrorCode>("4001").unwrap(),
            ErrorCode::EUNSUPPORTED_OBJECT
        );
        assert_eq!(serde_json::from_str::<ErrorCode>("-7").unwrap().code(), -7);
    }
}
