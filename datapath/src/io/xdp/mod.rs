//! AF_XDP
