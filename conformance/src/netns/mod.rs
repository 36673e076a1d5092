//! The netns backend of the topology runner (issue #8): the scripts of `conformance/topologies/`
//! on real sockets in Linux network namespaces built by [`ice_netsim::netns`], with peers the
//! project did not write running as real programs (libnice).

pub mod libnice;
pub mod run;
