//! The paravoid server binary.

fn main() {
    eprintln!("paravoid: the server is not built yet");
    std::process::exit(2);
}
