//! Grafana dashboards and Prometheus rules generated from the program itself.
//!
//! obs knows at link time every metric declared with `metric!`, every function under
//! `#[observe]` and the SLO attached to it, with names, help, units and kinds. From that
//! it writes the artefacts operators look at, so they cannot drift from the code:
//!
//! - [`grafana_dashboard`]: a dashboard (Grafana's JSON model) with a RED overview for
//!   HTTP routes and observed functions, a row per function, every `metric!` family shown
//!   as its kind calls for, a USE row from the process and obs's own metrics, and SLO
//!   panels (SLI, error budget left, burn rate); latency panels link exemplars to traces.
//! - [`prometheus_rules`]: recording rules for every rate, ratio and quantile the dashboard
//!   uses, alerts on error ratio and p99 latency per function and per route, a target-down
//!   alert, and for every SLO the multi-window, multi-burn-rate alerts of the Google SRE
//!   workbook.
//!
//! ```
//! use obs_runtime::dashboards::{DashboardOptions, RuleOptions, grafana_dashboard, prometheus_rules};
//!
//! let dashboard = grafana_dashboard(&DashboardOptions::new("orders"));
//! assert!(dashboard.contains("\"schemaVersion\": 39"));
//! let rules = prometheus_rules(&RuleOptions::new("orders"));
//! assert!(rules.starts_with("groups:\n"));
//! ```

mod board;
mod grafana;
mod json;
mod model;
mod panels;
mod rules;
mod yaml;

pub use grafana::{DashboardOptions, grafana_dashboard};
pub use model::register_route_slo;
pub use rules::{RuleOptions, prometheus_rules};
