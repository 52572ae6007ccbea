//! wren-engine
