//! Routing: from what a request says to what the handler will do.
//!
//! Pure: the handler calls [`classify`] first and touches the store only for
//! the [`Action`] it returns, so a rejected request cannot change a counter.

use http::Method;

use crate::error::ApiError;
use crate::path::{PathAllowList, counter_path};

/// The one resource the API serves.
pub use counter_api::VISITS_ROUTE;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `POST`: add one to the counter of this (validated, allowed) path.
    Increment(String),
    /// `GET`: read the counter without changing it.
    Read(String),
    /// `OPTIONS`: answer a CORS preflight.
    Preflight,
}

/// What the handler sees of a request, already stripped of any API Gateway
/// stage prefix.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    pub method: &'a Method,
    pub route: &'a str,
    pub query: Option<&'a str>,
    pub body_len: usize,
    /// The request's `Origin` is one the stage allows, or it has none (a
    /// client that is not a browser page: counted as before).
    pub origin_allowed: bool,
    /// It came the way the stage requires: through the CloudFront
    /// distribution when the stage answers only there, else always.
    pub via_edge: bool,
}

/// The route must be exactly [`VISITS_ROUTE`]: `/visits/`, `/visits//` and
/// `//visits` are other routes (404), as `openapi.yaml` has one route, so
/// one page's visits cannot be counted through several spellings of it.
///
/// A request that skipped the stage's CloudFront distribution (when it
/// answers only there) is refused whatever it asks; a POST whose `Origin`
/// the stage does not allow is refused before its path is even read: a
/// page on another site cannot count here. Reads keep their rules (a read
/// changes nothing, and the browser already keeps its answer from a page
/// the stage does not allow).
pub fn classify(req: RequestParts<'_>, allow: &PathAllowList) -> Result<Action, ApiError> {
    if !req.via_edge {
        return Err(ApiError::DirectAccessRefused);
    }
    if req.route != VISITS_ROUTE {
        return Err(ApiError::NotFound);
    }
    let is_read = match *req.method {
        Method::OPTIONS => return Ok(Action::Preflight),
        Method::GET => true,
        Method::POST => false,
        _ => return Err(ApiError::MethodNotAllowed),
    };
    if !is_read && !req.origin_allowed {
        return Err(ApiError::OriginNotAllowed);
    }
    if req.body_len > 0 {
        return Err(ApiError::UnexpectedBody);
    }
    let path = counter_path(req.query, allow)?;
    Ok(if is_read {
        Action::Read(path)
    } else {
        Action::Increment(path)
    })
}

/// Removes an API Gateway stage prefix (`/prod/visits` → `/visits`). HTTP
/// API events carry the stage in `rawPath` unless the stage is `$default`.
pub fn strip_stage<'a>(path: &'a str, stage: Option<&str>) -> &'a str {
    match stage {
        Some(stage) if !stage.is_empty() && stage != "$default" => path
            .strip_prefix('/')
            .and_then(|p| p.strip_prefix(stage))
            .filter(|rest| rest.starts_with('/'))
            .unwrap_or(path),
        _ => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::MAX_PATH_BYTES;
    use proptest::prelude::*;

    fn parts<'a>(method: &'a Method, route: &'a str, query: Option<&'a str>) -> RequestParts<'a> {
        RequestParts {
            method,
            route,
            query,
            body_len: 0,
            origin_allowed: true,
            via_edge: true,
        }
    }

    #[test]
    fn routes_each_method() {
        let any = PathAllowList::any();
        assert_eq!(
            classify(parts(&Method::POST, "/visits", Some("path=/a")), &any).ok(),
            Some(Action::Increment("/a".into()))
        );
        assert_eq!(
            classify(parts(&Method::GET, "/visits", Some("path=/a")), &any).ok(),
            Some(Action::Read("/a".into()))
        );
        assert_eq!(
            classify(parts(&Method::OPTIONS, "/visits", None), &any).ok(),
            Some(Action::Preflight)
        );
        for m in [Method::PUT, Method::DELETE, Method::PATCH, Method::HEAD] {
            assert!(matches!(
                classify(parts(&m, "/visits", Some("path=/a")), &any),
                Err(ApiError::MethodNotAllowed)
            ));
        }
        assert!(matches!(
            classify(parts(&Method::POST, "/visit", Some("path=/a")), &any),
            Err(ApiError::NotFound)
        ));
        let with_body = RequestParts {
            body_len: 2,
            ..parts(&Method::POST, "/visits", Some("path=/a"))
        };
        assert!(matches!(
            classify(with_body, &any),
            Err(ApiError::UnexpectedBody)
        ));
    }

    #[test]
    fn a_post_from_an_origin_not_allowed_is_refused_and_reads_are_not() {
        let any = PathAllowList::any();
        fn from_elsewhere(m: &Method) -> RequestParts<'_> {
            RequestParts {
                origin_allowed: false,
                ..parts(m, "/visits", Some("path=/a"))
            }
        }
        assert!(matches!(
            classify(from_elsewhere(&Method::POST), &any),
            Err(ApiError::OriginNotAllowed)
        ));
        // Refused before the path is read: a bad path is still 403.
        let bad_path = RequestParts {
            origin_allowed: false,
            ..parts(&Method::POST, "/visits", Some("path=relative"))
        };
        assert!(matches!(
            classify(bad_path, &any),
            Err(ApiError::OriginNotAllowed)
        ));
        assert_eq!(
            classify(from_elsewhere(&Method::GET), &any).ok(),
            Some(Action::Read("/a".into()))
        );
        assert_eq!(
            classify(from_elsewhere(&Method::OPTIONS), &any).ok(),
            Some(Action::Preflight)
        );
    }

    #[test]
    fn a_request_that_skipped_the_edge_is_refused_whatever_it_asks() {
        let any = PathAllowList::any();
        for (m, route) in [
            (Method::POST, "/visits"),
            (Method::GET, "/visits"),
            (Method::OPTIONS, "/visits"),
            (Method::GET, "/nope"),
        ] {
            let direct = RequestParts {
                via_edge: false,
                ..parts(&m, route, Some("path=/a"))
            };
            assert!(
                matches!(classify(direct, &any), Err(ApiError::DirectAccessRefused)),
                "{m} {route}"
            );
        }
    }

    #[test]
    fn other_spellings_of_the_route_are_not_found() {
        let any = PathAllowList::any();
        for route in [
            "/visits/",
            "/visits//",
            "//visits",
            "/visits/x",
            "/Visits",
            "",
        ] {
            for m in [Method::POST, Method::GET, Method::OPTIONS] {
                assert!(
                    matches!(
                        classify(parts(&m, route, Some("path=/a")), &any),
                        Err(ApiError::NotFound)
                    ),
                    "{m} {route:?}"
                );
            }
        }
    }

    #[test]
    fn stage_prefix_is_removed_only_when_present() {
        assert_eq!(strip_stage("/prod/visits", Some("prod")), "/visits");
        assert_eq!(strip_stage("/visits", Some("prod")), "/visits");
        assert_eq!(
            strip_stage("/production/visits", Some("prod")),
            "/production/visits"
        );
        assert_eq!(strip_stage("/visits", Some("$default")), "/visits");
        assert_eq!(strip_stage("/visits", None), "/visits");
    }

    proptest! {
        /// Whatever the method, route, query and body, an increment is only
        /// ever classified as an increment for a POST to /visits without a body and with a path
        /// that passes every rule.
        #[test]
        fn increments_are_classified_only_for_valid_requests(
            method in prop::sample::select(vec![Method::GET, Method::POST, Method::PUT, Method::DELETE, Method::OPTIONS]),
            route in prop::sample::select(vec!["/visits", "/visits/", "//visits", "/", "/visit", "/visits/x"]),
            query in prop::option::of(".{0,300}"),
            body_len in prop::sample::select(vec![0usize, 1, 100]),
            origin_allowed in any::<bool>(),
            via_edge in any::<bool>(),
        ) {
            let allow = PathAllowList::parse("/,/blog/*").expect("valid");
            let req = RequestParts {
                method: &method, route, query: query.as_deref(), body_len, origin_allowed, via_edge,
            };
            if let Ok(Action::Increment(path)) = classify(req, &allow) {
                prop_assert!(origin_allowed && via_edge);
                prop_assert_eq!(&method, &Method::POST);
                prop_assert_eq!(body_len, 0);
                prop_assert_eq!(route, VISITS_ROUTE);
                prop_assert!(path.starts_with('/') && path.len() <= MAX_PATH_BYTES);
                prop_assert!(!path.chars().any(char::is_control));
                prop_assert!(allow.allows(&path));
            }
        }
    }
}
