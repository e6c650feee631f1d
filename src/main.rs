fn main() {
    std::process::exit(converge::run());
}
