//! Placeholder: written by issue 4's lease work.
