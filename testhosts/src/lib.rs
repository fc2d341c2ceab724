//! testhosts
