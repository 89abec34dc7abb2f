//! cityx-api
