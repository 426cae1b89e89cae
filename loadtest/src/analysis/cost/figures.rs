//! The figures a plan rests on: prices, limits and what one request leaves
//! behind (log bytes, header bytes, init time), each with where it comes
//! from. Parsed from JSON text (the data file `loadtest/data/*.json`, and
//! override files); reading the files is the command's job.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One tier of a volume-priced figure: `price` per unit up to `up_to`
/// units a month (cumulative), or beyond the previous tier when `None`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    pub up_to: Option<f64>,
    pub price: f64,
}

/// A volume-tiered price; a plain number is one tier.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Tiers(pub Vec<Tier>);

impl<'de> Deserialize<'de> for Tiers {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Flat(f64),
            Tiered(Vec<Tier>),
        }
        Ok(match Form::deserialize(d)? {
            Form::Flat(price) => Tiers(vec![Tier { up_to: None, price }]),
            Form::Tiered(tiers) => Tiers(tiers),
        })
    }
}

/// The part of a quantity billed in one tier.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TierUse {
    pub quantity: f64,
    pub price: f64,
}

impl Tiers {
    pub fn flat(price: f64) -> Self {
        Tiers(vec![Tier { up_to: None, price }])
    }

    /// The first tier's price: what a small user pays.
    pub fn first(&self) -> f64 {
        self.0.first().map_or(0.0, |t| t.price)
    }

    /// How `quantity` units a month fall into the tiers.
    pub fn split(&self, quantity: f64) -> Vec<TierUse> {
        self.split_from(0.0, quantity)
    }

    /// How `quantity` units a month fall into the tiers when `start`
    /// units were already used (by another line on the same meter).
    pub fn split_from(&self, start: f64, quantity: f64) -> Vec<TierUse> {
        let end = start + quantity;
        let mut uses = Vec::new();
        let mut below: f64 = 0.0;
        for t in &self.0 {
            let top = t.up_to.unwrap_or(f64::INFINITY);
            let here = (end.min(top) - below.max(start)).max(0.0);
            if here > 0.0 {
                uses.push(TierUse {
                    quantity: here,
                    price: t.price,
                });
            }
            below = top;
            if end <= top {
                break;
            }
        }
        uses
    }

    /// The price of `quantity` units a month.
    pub fn cost(&self, quantity: f64) -> f64 {
        self.split(quantity)
            .iter()
            .map(|u| u.quantity * u.price)
            .sum()
    }

    fn check(&self, name: &str) -> Result<(), FigureError> {
        let bad = |why: &str| FigureError::Invalid(name.to_owned(), why.to_owned());
        let Some(last) = self.0.last() else {
            return Err(bad("no tiers"));
        };
        if last.up_to.is_some() {
            return Err(bad("the last tier needs \"up_to\": null"));
        }
        let mut below = 0.0;
        for t in &self.0 {
            check_number(name, t.price)?;
            if let Some(top) = t.up_to {
                if !(top.is_finite() && top > below) {
                    return Err(bad("tiers must rise (each up_to above the one before)"));
                }
                below = top;
            }
        }
        Ok(())
    }
}

/// USD prices (and the billing rules that go with them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prices {
    pub lambda_requests_per_million: f64,
    /// Tiers in GB-seconds a month.
    pub lambda_gb_second_arm64: Tiers,
    pub lambda_gb_second_x86_64: Tiers,
    pub lambda_billing_granularity_ms: f64,
    /// Tiers in millions of requests a month.
    pub http_api_per_million: Tiers,
    pub rest_api_per_million: Tiers,
    pub dynamodb_write_units_per_million: f64,
    pub dynamodb_read_units_per_million: f64,
    /// Tiers in GB a month.
    pub logs_ingestion_per_gb: Tiers,
    pub logs_storage_per_gb_month: f64,
    pub logs_event_overhead_bytes: f64,
    /// Tiers in GB a month.
    pub data_transfer_out_per_gb: Tiers,
    pub bytes_per_gb: f64,
    pub free_lambda_requests: f64,
    pub free_lambda_gb_seconds: f64,
    pub free_data_transfer_gb: f64,
    pub free_logs_gb: f64,
    pub waf_web_acl_per_month: f64,
    pub waf_rule_per_month: f64,
    pub waf_requests_per_million: f64,
    pub cloudfront_requests_per_million: f64,
    pub free_cloudfront_requests: f64,
}

/// Service limits (quotas). Account ones can be raised; per-item ones not.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quotas {
    pub lambda_account_concurrency: f64,
    /// The request-rate cap is this × concurrency.
    pub lambda_requests_per_second_per_concurrency: f64,
    pub lambda_scaling_environments_per_10_s: f64,
    pub api_gateway_account_rps: f64,
    pub api_gateway_account_burst: f64,
    pub dynamodb_item_write_units_per_second: f64,
    pub dynamodb_item_read_units_per_second: f64,
    pub dynamodb_table_write_units_per_second: f64,
    pub dynamodb_new_table_write_units_per_second: f64,
    pub dynamodb_growth_factor_per_30_min: f64,
}

/// What one request leaves behind, measured or estimated.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Footprint {
    pub handler_log_bytes: f64,
    /// The handler's line when every field the request chooses is at its
    /// logged bound: what a junk request costs in logs.
    pub handler_log_bytes_max: f64,
    pub platform_log_bytes: f64,
    pub platform_log_events: f64,
    pub cold_start_log_bytes: f64,
    pub response_header_bytes: f64,
    pub init_ms_arm64: f64,
    pub init_ms_x86_64: f64,
}

/// The typed figures a plan uses.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    pub prices: Prices,
    pub quotas: Quotas,
    pub footprint: Footprint,
}

/// One figure as the data file states it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Figure {
    pub value: Value,
    pub unit: String,
    pub region: String,
    pub source: String,
    pub checked: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub how: Option<String>,
}

/// Every figure by name, in the data file's three groups.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FigureBook {
    #[serde(default)]
    pub about: String,
    pub prices: BTreeMap<String, Figure>,
    pub limits: BTreeMap<String, Figure>,
    pub footprint: BTreeMap<String, Figure>,
}

/// Which group of a [`FigureBook`] an override file replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Prices,
    Limits,
    Footprint,
}

#[derive(Debug, thiserror::Error)]
pub enum FigureError {
    #[error("{0} is not valid JSON figures: {1}")]
    Parse(String, String),
    #[error("{0}: unknown figure `{1}` (known: {2})")]
    Unknown(String, String, String),
    #[error("figure `{0}`: {1}")]
    Invalid(String, String),
}

fn check_number(name: &str, v: f64) -> Result<(), FigureError> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(FigureError::Invalid(
            name.to_owned(),
            format!("{v} is not a finite number ≥ 0"),
        ))
    }
}

impl FigureBook {
    /// Parses a data file's text; `what` names it in errors.
    pub fn parse(text: &str, what: &str) -> Result<Self, FigureError> {
        let book: FigureBook = serde_json::from_str(text)
            .map_err(|e| FigureError::Parse(what.to_owned(), e.to_string()))?;
        book.resolve()?;
        Ok(book)
    }

    /// Replaces figures of one group from an override file's text: each
    /// name maps to a number, a tier list or a whole figure.
    pub fn apply_overrides(
        &mut self,
        group: Group,
        text: &str,
        what: &str,
    ) -> Result<(), FigureError> {
        let parse_err = |e: String| FigureError::Parse(what.to_owned(), e);
        let given: BTreeMap<String, Value> =
            serde_json::from_str(text).map_err(|e| parse_err(e.to_string()))?;
        let mut book = self.clone();
        let figures = match group {
            Group::Prices => &mut book.prices,
            Group::Limits => &mut book.limits,
            Group::Footprint => &mut book.footprint,
        };
        for (name, value) in given {
            let Some(old) = figures.get(&name) else {
                let known: Vec<&str> = figures.keys().map(String::as_str).collect();
                return Err(FigureError::Unknown(
                    what.to_owned(),
                    name,
                    known.join(", "),
                ));
            };
            let figure = match serde_json::from_value::<Figure>(value.clone()) {
                Ok(f) => f,
                Err(_) => Figure {
                    value,
                    source: what.to_owned(),
                    checked: "given".to_owned(),
                    how: Some("overridden".to_owned()),
                    ..old.clone()
                },
            };
            figures.insert(name, figure);
        }
        // Bad input changes nothing: the book is replaced only when valid.
        book.resolve()?;
        *self = book;
        Ok(())
    }

    /// The typed figures, each checked (finite, ≥ 0, tiers rising).
    pub fn resolve(&self) -> Result<Figures, FigureError> {
        let prices: Prices = typed(&self.prices, "prices")?;
        for (name, tiers) in [
            ("lambda_gb_second_arm64", &prices.lambda_gb_second_arm64),
            ("lambda_gb_second_x86_64", &prices.lambda_gb_second_x86_64),
            ("http_api_per_million", &prices.http_api_per_million),
            ("rest_api_per_million", &prices.rest_api_per_million),
            ("logs_ingestion_per_gb", &prices.logs_ingestion_per_gb),
            ("data_transfer_out_per_gb", &prices.data_transfer_out_per_gb),
        ] {
            tiers.check(name)?;
        }
        let quotas: Quotas = typed(&self.limits, "limits")?;
        let footprint: Footprint = typed(&self.footprint, "footprint")?;
        for (group, figures) in [("prices", &self.prices), ("limits", &self.limits)] {
            check_numbers(group, figures)?;
        }
        check_numbers("footprint", &self.footprint)?;
        if prices.bytes_per_gb <= 0.0 || prices.lambda_billing_granularity_ms <= 0.0 {
            return Err(FigureError::Invalid(
                "bytes_per_gb / lambda_billing_granularity_ms".into(),
                "must be above 0".into(),
            ));
        }
        Ok(Figures {
            prices,
            quotas,
            footprint,
        })
    }
}

/// Every plain-number figure of a group is finite and ≥ 0.
fn check_numbers(group: &str, figures: &BTreeMap<String, Figure>) -> Result<(), FigureError> {
    for (name, f) in figures {
        if let Some(v) = f.value.as_f64() {
            check_number(&format!("{group}.{name}"), v)?;
        }
    }
    Ok(())
}

/// `{name: figure}` → the typed struct of the values.
fn typed<T: DeserializeOwned>(
    figures: &BTreeMap<String, Figure>,
    group: &str,
) -> Result<T, FigureError> {
    let values: serde_json::Map<String, Value> = figures
        .iter()
        .map(|(k, f)| (k.clone(), f.value.clone()))
        .collect();
    serde_json::from_value(Value::Object(values))
        .map_err(|e| FigureError::Invalid(group.to_owned(), e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATA: &str = include_str!("../../../data/aws-us-east-1.json");

    fn book() -> FigureBook {
        FigureBook::parse(DATA, "data").expect("the data file parses")
    }

    #[test]
    fn the_data_file_states_every_figure_with_unit_region_source_and_date() {
        let b = book();
        let Figures {
            prices: p,
            quotas: q,
            footprint: f,
        } = b.resolve().expect("typed");
        assert_eq!(p.http_api_per_million.first(), 1.00);
        assert_eq!(p.dynamodb_write_units_per_million, 0.625);
        assert_eq!(q.dynamodb_item_write_units_per_second, 1000.0);
        assert_eq!(f.handler_log_bytes, 350.0);
        for fig in b
            .prices
            .values()
            .chain(b.limits.values())
            .chain(b.footprint.values())
        {
            assert!(!fig.unit.is_empty() && !fig.region.is_empty(), "{fig:?}");
            assert!(!fig.source.is_empty() && fig.checked.len() == 10, "{fig:?}");
        }
        assert!(
            b.footprint["handler_log_bytes"]
                .how
                .as_deref()
                .is_some_and(|h| h.contains("bootstrap") && h.contains("200 invocations")),
            "the measured figure says how it was measured"
        );
    }

    /// 350 M requests on the HTTP API: 300 M at $1.00, 50 M at $0.90 = $345.
    #[test]
    fn a_volume_past_a_tier_is_priced_in_both() {
        let t = book().resolve().expect("typed").prices.http_api_per_million;
        assert!((t.cost(350.0) - 345.0).abs() < 1e-9);
        assert_eq!(t.split(350.0).len(), 2);
        assert!((t.cost(10.0) - 10.0).abs() < 1e-9);
        assert_eq!(t.split(0.0), vec![]);
    }

    #[test]
    fn overrides_take_a_number_a_tier_list_or_a_figure_and_refuse_unknown_names() {
        let mut b = book();
        b.apply_overrides(Group::Prices, r#"{"http_api_per_million": 1.11}"#, "p.json")
            .expect("a number");
        let p = b.resolve().expect("typed").prices;
        assert_eq!(p.http_api_per_million, Tiers::flat(1.11));
        assert_eq!(b.prices["http_api_per_million"].source, "p.json");
        assert_eq!(p.rest_api_per_million.first(), 3.50, "others keep theirs");
        b.apply_overrides(
            Group::Limits,
            r#"{"lambda_account_concurrency": {"value": 10, "unit": "u", "region": "r", "source": "s", "checked": "2026-01-01"}}"#,
            "l.json",
        )
        .expect("a figure");
        assert_eq!(
            b.resolve()
                .expect("typed")
                .quotas
                .lambda_account_concurrency,
            10.0
        );
        let typo = b.apply_overrides(Group::Limits, r#"{"typo": 1}"#, "l.json");
        assert!(matches!(typo, Err(FigureError::Unknown(..))), "{typo:?}");
    }

    #[test]
    fn negative_or_falling_figures_are_refused() {
        let mut b = book();
        let neg = b.apply_overrides(Group::Prices, r#"{"logs_storage_per_gb_month": -1}"#, "p");
        assert!(matches!(neg, Err(FigureError::Invalid(..))), "{neg:?}");
        let mut b = book();
        let falling = b.apply_overrides(
            Group::Prices,
            r#"{"http_api_per_million": [{"up_to": 5, "price": 1}, {"up_to": 2, "price": 1}, {"up_to": null, "price": 1}]}"#,
            "p",
        );
        assert!(
            matches!(falling, Err(FigureError::Invalid(..))),
            "{falling:?}"
        );
    }
}
