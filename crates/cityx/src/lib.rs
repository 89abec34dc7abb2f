//! cityx
