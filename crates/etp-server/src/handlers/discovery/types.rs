//! `dataObjectTypes` filters of GetResources and GetDeletedResources (03-uris-and-objects.md
//! §3): parsing, the supported-type check, and matching against stored types.
//!
//! * `resqml20.*`, `resqml20.` (pyetp) and `resqml20` are wildcards over one release.
//! * A concrete type is matched ignoring the case of its name and written back in the
//!   spelling of the [`catalog`](etp_model::catalog) or of the stored objects, so that the
//!   store's exact type index finds it. RESQML 2.0.1 / EML 2.0 names without their `obj_`
//!   prefix are accepted too, as etp-model accepts such root elements.
//! * Anything that is not a qualified type, a release the store does not accept, or a name
//!   that is neither in the catalog nor stored in the dataspace is
//!   `EDATAOBJECTTYPE_NOTSUPPORTED` (16).

use std::collections::HashSet;

use etp_model::catalog;
use etp_protocol::error_code::ErrorCode;
use etp_protocol::names::QualifiedType;
use etp_store::TypeFilter;

use crate::access::Failure;

/// A parsed filter list. Empty = every type.
///
/// Duplicates are dropped as they are parsed, so a hostile list of a million copies costs
/// one hash lookup each and matching stays bounded by the number of distinct known types.
#[derive(Debug, Clone, Default)]
pub(crate) struct TypeFilters {
    resolved: Vec<TypeFilter>,
    /// `(is prefix, text)` of every entry of `resolved`.
    seen: HashSet<(bool, String)>,
    /// `<prefix>.<name>` of every entry of `unlisted`.
    unlisted_seen: HashSet<String>,
    /// Names of listed releases missing from the catalog: `(request text, release prefix,
    /// type name)`, acceptable only if the dataspace holds such objects.
    unlisted: Vec<(String, String, String)>,
}

fn unsupported(text: &str, why: impl std::fmt::Display) -> Failure {
    (
        ErrorCode::EDATAOBJECTTYPE_NOTSUPPORTED,
        format!("data object type {text:?} is not supported: {why}"),
    )
}

/// The longest type text copied into an error message.
const MAX_ECHO: usize = 120;

fn shorten(text: &str) -> &str {
    match text.char_indices().nth(MAX_ECHO) {
        Some((cut, _)) => &text[..cut],
        None => text,
    }
}

impl TypeFilters {
    /// Parses the request's list. Names of listed releases that the catalog does not know
    /// are kept for [`TypeFilters::resolve`].
    pub(crate) fn parse<S: AsRef<str>>(texts: &[S]) -> Result<TypeFilters, Failure> {
        let mut filters = TypeFilters::default();
        for text in texts {
            let text = text.as_ref();
            let echo = shorten(text);
            let parsed = QualifiedType::parse(text.trim()).map_err(|e| unsupported(echo, e))?;
            let prefix = parsed.release_prefix();
            let Some(release) = catalog::release_by_prefix(&prefix) else {
                return Err(unsupported(
                    echo,
                    format_args!("this store does not accept {prefix} objects"),
                ));
            };
            let Some(name) = parsed.object_type() else {
                filters.add(TypeFilter::Prefix(format!("{prefix}.")));
                continue;
            };
            if release.types().is_none() {
                filters.add(TypeFilter::Exact(format!("{prefix}.{name}")));
                continue;
            }
            match release.find_type_lenient(name) {
                Some(spelling) => filters.add(TypeFilter::Exact(format!("{prefix}.{spelling}"))),
                None => {
                    if filters.unlisted_seen.insert(format!("{prefix}.{name}")) {
                        filters
                            .unlisted
                            .push((echo.to_owned(), prefix, name.to_owned()));
                    }
                }
            }
        }
        Ok(filters)
    }

    fn add(&mut self, filter: TypeFilter) {
        let key = match &filter {
            TypeFilter::Exact(t) => (false, t.clone()),
            TypeFilter::Prefix(p) => (true, p.clone()),
        };
        if self.seen.insert(key) {
            self.resolved.push(filter);
        }
    }

    /// Whether some names still need [`TypeFilters::resolve`].
    pub(crate) fn needs_stored_types(&self) -> bool {
        !self.unlisted.is_empty()
    }

    /// Accepts the names missing from the catalog that match a type stored in the
    /// dataspace (`stored`, as from `count_by_type`), and refuses the others.
    pub(crate) fn resolve(&mut self, stored: &[String]) -> Result<(), Failure> {
        for (echo, prefix, name) in std::mem::take(&mut self.unlisted) {
            let found = stored.iter().find(|t| {
                t.split_once('.').is_some_and(|(p, n)| {
                    p == prefix
                        && (n.eq_ignore_ascii_case(&name)
                            || n.strip_prefix("obj_")
                                .is_some_and(|bare| bare.eq_ignore_ascii_case(&name)))
                })
            });
            match found {
                Some(stored) => self.add(TypeFilter::Exact(stored.clone())),
                None => {
                    return Err(unsupported(
                        &echo,
                        format_args!("{prefix} has no such data object type"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The store filters (empty = every type). Only meaningful after
    /// [`TypeFilters::resolve`] when [`TypeFilters::needs_stored_types`].
    pub(crate) fn store_filters(&self) -> &[TypeFilter] {
        &self.resolved
    }

    /// Whether a stored object of `qualified_type` passes.
    pub(crate) fn accepts(&self, qualified_type: &str) -> bool {
        self.resolved.is_empty() || self.resolved.iter().any(|f| f.matches(qualified_type))
    }
}

/// Whether a concrete type (from a URI) is one the store accepts: its release is accepted
/// and, where the catalog lists the release, the name is listed, with or without the
/// `obj_` prefix of RESQML 2.0.1 / EML 2.0 (as type filters are matched).
pub(crate) fn is_supported_concrete(qualified_type: &QualifiedType) -> bool {
    let Some(name) = qualified_type.object_type() else {
        return false;
    };
    catalog::release_by_prefix(&qualified_type.release_prefix()).is_some_and(|release| {
        release.types().is_none() || release.find_type_lenient(name).is_some()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(texts: &[&str]) -> Result<TypeFilters, Failure> {
        TypeFilters::parse(&texts.iter().map(|t| t.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn wildcards_in_every_spelling() {
        for text in ["resqml20.*", "resqml20.", "resqml20", "RESQML20.*"] {
            let f = parse(&[text]).unwrap();
            assert_eq!(
                f.store_filters(),
                [TypeFilter::Prefix("resqml20.".into())],
                "{text}"
            );
            assert!(f.accepts("resqml20.obj_LocalDepth3dCrs"));
            assert!(!f.accepts("witsml21.Well"));
        }
    }

    #[test]
    fn concrete_types_take_the_catalog_spelling() {
        let f = parse(&["witsml21.wellbore", "resqml20.Grid2dRepresentation"]).unwrap();
        assert_eq!(
            f.store_filters(),
            [
                TypeFilter::Exact("witsml21.Wellbore".into()),
                TypeFilter::Exact("resqml20.obj_Grid2dRepresentation".into())
            ]
        );
        assert!(!f.needs_stored_types());
        assert!(parse(&[]).unwrap().accepts("anything.at_all"));
    }

    #[test]
    fn unknown_names_and_releases_are_unsupported() {
        for text in [
            "witsml14.Well",
            "resqml21.*",
            "",
            "nonsense",
            "witsml21.Well(x)",
        ] {
            let e = parse(&[text]).unwrap_err();
            assert_eq!(e.0, ErrorCode::EDATAOBJECTTYPE_NOTSUPPORTED, "{text}");
        }
        let mut f = parse(&["witsml21.Welll"]).unwrap();
        assert!(f.needs_stored_types());
        let e = f.resolve(&["witsml21.Well".into()]).unwrap_err();
        assert_eq!(e.0, ErrorCode::EDATAOBJECTTYPE_NOTSUPPORTED);
        assert!(e.1.contains("Welll"));
    }

    #[test]
    fn stored_types_outside_the_catalog_are_accepted() {
        let mut f = parse(&["resqml22.futureType", "prodml21.AnyThing"]).unwrap();
        f.resolve(&["resqml22.FutureType".into()]).unwrap();
        assert!(f.accepts("resqml22.FutureType"));
        assert!(f.accepts("prodml21.AnyThing"));
        assert!(!f.accepts("resqml22.Other"));
    }

    #[test]
    fn duplicates_collapse() {
        let many: Vec<String> = (0..100_000)
            .map(|i| match i % 3 {
                0 => "witsml21.Well".to_string(),
                1 => "witsml21.WELL".to_string(),
                _ => "witsml21.".to_string(),
            })
            .collect();
        let f = TypeFilters::parse(&many).unwrap();
        assert_eq!(f.store_filters().len(), 2);
        let mut f = TypeFilters::parse(&vec!["witsml21.Stored".to_string(); 1_000]).unwrap();
        assert_eq!(f.unlisted.len(), 1);
        f.resolve(&["witsml21.Stored".into()]).unwrap();
        assert_eq!(
            f.store_filters(),
            [TypeFilter::Exact("witsml21.Stored".into())]
        );
    }

    #[test]
    fn error_messages_stay_short() {
        let long = format!("witsml21.{}", "x".repeat(10_000));
        let mut f = parse(&[long.as_str()]).unwrap();
        let e = f.resolve(&[]).unwrap_err();
        assert!(e.1.len() < 1_000);
        let e = parse(&[&"z".repeat(10_000)]).unwrap_err();
        assert!(e.1.len() < 1_000);
    }
}
