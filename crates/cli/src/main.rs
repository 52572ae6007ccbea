//! wren-cli
fn main() {}
