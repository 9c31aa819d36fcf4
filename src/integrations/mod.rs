//! One module per relation: parse the databags (and the Juju secrets they point to)
//! into a typed value, turn it into environment variables, and say what the charm must
//! write back. Shared URL rules are in [`url`].

pub mod url;
