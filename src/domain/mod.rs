//! Pure domain logic, no I/O: checked value types (parse, don't validate), the catalog's closed
//! sets, and commune boundaries.

pub mod account;
pub mod area_import;
pub mod calendar;
pub mod catalog;
pub mod geometry;
pub mod holidays;
pub mod identity;
pub mod lifecycle;
pub mod lunar;
pub mod report;
pub mod routing;
pub mod search;
pub mod stats;
pub mod synth;
pub mod tracking_code;

pub use catalog::{
    AreaCode, AreaKind, CategoryCode, DeadlineUnit, DepartmentCode, DepartmentKind, HolidayKind,
};
pub use geometry::{Boundary, BoundingBox, Coordinates};
