//! The process: its flags, the wiring of each subcommand, and its logs.

pub mod cli;
pub mod commands;
pub mod logging;
pub mod plugin;
