fn main() {
    std::process::exit(convergences::cli::main());
}
