//! cityx-db
