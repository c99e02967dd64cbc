//! The process: its flags, the wiring of each subcommand, its logs, and the files a
//! user points it at (read without trusting them).

pub mod cli;
pub mod commands;
pub mod logging;
pub mod regular_file;
