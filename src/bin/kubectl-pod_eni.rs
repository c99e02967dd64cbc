//! `kubectl pod-eni`: kubectl runs this for `kubectl pod-eni …` when it is on `PATH`
//! (src/app/plugin).

fn main() -> std::process::ExitCode {
    pod_eni_exporter::app::plugin::main()
}
