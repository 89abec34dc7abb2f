//! cityx-testkit
