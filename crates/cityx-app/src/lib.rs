//! cityx-app
