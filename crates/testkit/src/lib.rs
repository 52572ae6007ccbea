//! wren-testkit: simulated time and network, a fake registrar/proxy, and fake audio, for
//! tests only. Everything is deterministic per seed (STYLE.md §8).
pub mod tone;

pub mod clock;
pub mod net;
pub mod proxy;
pub mod rng;
pub mod sim;

pub use clock::SimClock;
pub use net::{Fate, Link, Node, Packet, SimNet};
pub use proxy::{Binding, FakeProxy, ProxyConfig, ProxyStats};
pub use rng::Rng;
pub use sim::{ua_config, Sim, UaId};
