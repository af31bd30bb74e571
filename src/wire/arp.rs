//! Placeholder: filled in by issue 2's wire work.
