//! `ratecheck fleet`: whether a gateway fleet enforces one limit. [`check`] sends one key's
//! requests over the instances and keeps every answer; [`judge`] reads them: one shared
//! counter, the limit agreed, no window admitting more than the limit, no instance refusing
//! long after a reset; [`watch`] follows the fleet's state over time and dates its changes.

pub mod check;
pub mod judge;
pub mod watch;

pub use check::{FleetOptions, FleetReport, Watch, check};
pub use judge::{Rules, Sample, VIA, Verdict, judge};
pub use watch::{Change, State, Tracker};
