//! Integration tests of helix-tenancy.
