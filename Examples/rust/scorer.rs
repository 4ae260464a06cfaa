// The scorer of Examples/c in Rust, with no crate: a cdylib exporting forkctl_init and score
// with the C ABI of include/forkctl.h.
//
//   rustc --crate-type cdylib -O -o libscorer.so scorer.rs
use std::ffi::{c_char, c_int, CStr};
use std::io::Read;
use std::sync::OnceLock;

static MODEL: OnceLock<Vec<String>> = OnceLock::new();

unsafe fn args(argc: c_int, argv: *const *const c_char) -> Vec<String> {
    (0..argc as isize)
        .map(|i| CStr::from_ptr(*argv.offset(i)).to_string_lossy().into_owned())
        .collect()
}

fn score_text(text: &str) -> usize {
    let model = MODEL.get().map(|m| m.as_slice()).unwrap_or(&[]);
    text.split_whitespace().filter(|w| model.iter().any(|m| m == w)).count()
}

#[no_mangle]
pub unsafe extern "C" fn forkctl_init(argc: c_int, argv: *const *const c_char) -> c_int {
    let args = args(argc, argv);
    let Some(path) = args.get(1) else { return 64 };
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let _ = MODEL.set(text.split_whitespace().map(String::from).collect());
            0
        }
        Err(e) => {
            eprintln!("{path}: {e}");
            66
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn score(argc: c_int, argv: *const *const c_char) -> c_int {
    let args = args(argc, argv);
    if args.len() < 2 {
        let mut text = String::new();
        let _ = std::io::stdin().read_to_string(&mut text);
        println!("{}", score_text(&text));
        return 0;
    }
    let mut status = 0;
    for path in &args[1..] {
        match std::fs::read_to_string(path) {
            Ok(text) => println!("{path} {}", score_text(&text)),
            Err(e) => {
                eprintln!("{path}: {e}");
                status = 1;
            }
        }
    }
    status
}
