//! `ratecheck fleet`: whether a gateway fleet enforces one limit. [`check`] sends one key's
//! requests over the instances and keeps every answer; [`judge`] reads them: one shared
//! counter, the limit agreed, no window admitting more than the limit, no instance refusing
//! long after a reset.

pub mod check;
pub mod judge;

pub use check::{FleetOptions, FleetReport, check};
pub use judge::{Rules, Sample, Verdict, judge};
