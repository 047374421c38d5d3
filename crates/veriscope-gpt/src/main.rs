//! The built-in GPT trainer binary (`veriscope-gpt`).

fn main() {
    eprintln!("veriscope-gpt: not built yet");
    std::process::exit(3);
}
