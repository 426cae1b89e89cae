//! One bill line from what is metered and how it is priced. The free
//! tier, the price, the short `basis` and the `explain` arithmetic are
//! worked out here, the same way for every line; `bill.rs` says only what
//! each line meters and which price applies.

use std::borrow::Cow;

use super::figures::{TierUse, Tiers};
use super::{CostItem, CostLine, num, price};

/// Decimals of the short `basis`, and of the arithmetic in `explain`.
const SHORT: usize = 3;
const FULL: usize = 6;

/// How a metered quantity is priced.
pub(super) enum Price<'a> {
    /// Volume tiers over the quantity a month (a flat price is one tier).
    Tiered(Cow<'a, Tiers>),
    /// Tiers another line has already used `used` units of: this line is
    /// priced from there up (init's GB-seconds go on top of duration's).
    OnTopOf {
        tiers: &'a Tiers,
        used: f64,
        by: &'static str,
    },
    /// A price per million of the quantity.
    PerMillion(f64),
    /// A price a month whatever the quantity: its parts, each named.
    Monthly(Vec<(&'static str, f64)>),
}

impl<'a> Price<'a> {
    pub(super) fn tiered(tiers: &'a Tiers) -> Self {
        Price::Tiered(Cow::Borrowed(tiers))
    }

    /// One price for every unit.
    pub(super) fn flat(per_unit: f64) -> Self {
        Price::Tiered(Cow::Owned(Tiers::flat(per_unit)))
    }
}

/// What a line meters (a quantity a month in `unit`, with the lines that
/// say how it was worked out), the always-free allowance if any, and the
/// price. [`Charge::bill`] makes the [`CostLine`].
pub(super) struct Charge<'a> {
    item: CostItem,
    service: String,
    quantity: f64,
    unit: &'static str,
    /// The unit as the arithmetic writes it, where shorter than `unit`.
    short: &'static str,
    /// What the basis adds after the quantity, e.g. "(713 B an invocation)".
    detail: Option<String>,
    how: Vec<String>,
    /// The always-free allowance, in `unit` a month.
    free: Option<f64>,
    price: Price<'a>,
}

impl<'a> Charge<'a> {
    /// A line named by its item's label.
    pub(super) fn new(item: CostItem, quantity: f64, unit: &'static str, price: Price<'a>) -> Self {
        Self {
            item,
            service: item.label().to_owned(),
            quantity,
            unit,
            short: unit,
            detail: None,
            how: Vec::new(),
            free: None,
            price,
        }
    }

    /// The service with its variant ("API Gateway (HTTP API)").
    pub(super) fn service(mut self, service: String) -> Self {
        self.service = service;
        self
    }

    pub(super) fn short_unit(mut self, short: &'static str) -> Self {
        self.short = short;
        self
    }

    pub(super) fn detail(mut self, detail: String) -> Self {
        self.detail = Some(detail);
        self
    }

    /// A step of how the quantity was worked out.
    pub(super) fn how(mut self, line: String) -> Self {
        self.how.push(line);
        self
    }

    pub(super) fn free(mut self, allowance: f64) -> Self {
        self.free = Some(allowance);
        self
    }

    /// The line, with the allowance taken off first when `free_tier`.
    pub(super) fn bill(self, free_tier: bool) -> CostLine {
        let mut explain = self.how;
        let (billed, covered) = match self.free {
            Some(allowance) if free_tier => {
                let covered = self.quantity.min(allowance);
                let billed = self.quantity - covered;
                explain.push(format!(
                    "free tier: {} of {} {} free, {} billed",
                    num(covered, SHORT),
                    num(allowance, 0),
                    self.unit,
                    num(billed, SHORT)
                ));
                (billed, covered)
            }
            _ => (self.quantity, 0.0),
        };
        let detail = self.detail.map_or(String::new(), |d| format!(" {d}"));
        let priced = self.price.work(billed, self.short, &detail);
        explain.extend(priced.lines);
        CostLine {
            item: self.item,
            service: self.service,
            quantity: self.quantity,
            unit: self.unit.to_owned(),
            free_quantity: covered,
            usd_per_month: priced.usd,
            basis: priced.basis,
            explain,
        }
    }
}

/// A billed quantity priced: the dollars, the short basis, the arithmetic.
struct Priced {
    usd: f64,
    basis: String,
    lines: Vec<String>,
}

impl Price<'_> {
    fn work(&self, billed: f64, unit: &str, detail: &str) -> Priced {
        match self {
            Price::Tiered(tiers) => tiered(tiers, 0.0, billed, unit, detail),
            Price::OnTopOf { tiers, used, by } => {
                let mut p = tiered(tiers, *used, billed, unit, detail);
                p.lines.insert(
                    0,
                    format!(
                        "priced on top of {by}'s {} {unit}, in the same tiers",
                        num(*used, FULL)
                    ),
                );
                p
            }
            Price::PerMillion(per_m) => {
                let millions = billed / 1e6;
                let usd = millions * per_m;
                Priced {
                    usd,
                    basis: format!(
                        "{} M {unit}{detail} × {}/M",
                        num(millions, SHORT),
                        price(*per_m)
                    ),
                    lines: vec![format!(
                        "{} M {unit} × {}/M = ${}",
                        num(millions, FULL),
                        price(*per_m),
                        num(usd, FULL)
                    )],
                }
            }
            Price::Monthly(parts) => {
                let usd = parts.iter().fold(0.0, |sum, (_, p)| sum + p);
                let sum: Vec<String> = parts
                    .iter()
                    .map(|(name, p)| format!("{} {name}", price(*p)))
                    .collect();
                let basis = format!("{} a month", sum.join(" + "));
                Priced {
                    usd,
                    lines: vec![format!(
                        "{} = ${} a month, whatever the traffic",
                        sum.join(" + "),
                        num(usd, FULL)
                    )],
                    basis,
                }
            }
        }
    }
}

/// `quantity` units priced in `tiers` from `start` units up: a line per
/// tier it falls into; "× $p" in the basis for one tier, "tiered" for more.
fn tiered(tiers: &Tiers, start: f64, quantity: f64, unit: &str, detail: &str) -> Priced {
    let uses = tiers.split_from(start, quantity);
    let usd = tiers.cost(start + quantity) - tiers.cost(start);
    // A quantity of nothing still shows its price.
    let uses = if uses.is_empty() {
        vec![TierUse {
            quantity,
            price: tiers.first(),
        }]
    } else {
        uses
    };
    let rate = match uses.as_slice() {
        [one] => format!("× {}", price(one.price)),
        _ => "tiered".to_owned(),
    };
    let lines = uses
        .iter()
        .map(|u| {
            format!(
                "{} {unit} × {} = ${}",
                num(u.quantity, FULL),
                price(u.price),
                num(u.quantity * u.price, FULL)
            )
        })
        .collect();
    Priced {
        usd,
        basis: format!("{} {unit}{detail} {rate}", num(quantity, SHORT)),
        lines,
    }
}
