//! xdp-prog
