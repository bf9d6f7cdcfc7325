//! The AWS implementation of [`super::Cloud`].
