//! Pure policies: decisions computed from numbers, with no I/O, unit-tested beside them.

pub mod backoff;
pub mod breaker;
pub mod budget;
pub mod restart;
