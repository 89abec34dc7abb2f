//! cityx-web
