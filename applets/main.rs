//! Placeholder: the multi-call dispatcher comes with issue 2's CLI work.
fn main() {}
