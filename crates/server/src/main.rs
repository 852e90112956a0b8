fn main() -> std::process::ExitCode {
    portcullis_server::cli::main()
}
